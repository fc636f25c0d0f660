"""``fno daily-file`` and ``fno notifications`` end to end: each a process, through the
real HTTP API (uvicorn on a local port) on the real dev server while a worker runs the
notifications (a day lasts a fifth of a second). The PNC feed sends with its system
credential; people read and accept with their own sign-in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from access.kinds import NOTIFICATION
from cli.render import AUTH_EXIT
from models.case import Outcome
from models.notification_policy import NotificationPolicy
from tests.support import eventually, system_key
from tests.support_cli import api, fno, person_env, signed_in
from tests.support_notifications import conviction, daily_file, notification_harness
from tests.support_web import live_server

pytestmark = pytest.mark.devserver
POLICY = NotificationPolicy(name="compressed (0.2s days)", day_seconds=0.2)


def credential(**client) -> str:
    """A new system client's ``FNO_API_CLIENT_KEY``."""
    return system_key(**client)["Authorization"].removeprefix("Bearer ")


async def test_fno_sends_daily_files_and_people_read_and_accept(dev_env, tmp_path):
    async with notification_harness(dev_env, tmp_path, policy=POLICY) as h:
        async with live_server(api(h, store=h.case_store, policy=POLICY)) as url:
            system = person_env(tmp_path / "pnc", url)
            feed = system | {
                "FNO_API_CLIENT_KEY": credential(name="PNC feed", scopes=["daily-files"], forces=[])
            }
            custody = system | {"FNO_API_CLIENT_KEY": credential(scopes=["custody-events"])}
            now = datetime.now(UTC)
            records = [
                # A day lasts a fifth of a second here: recorded "now", not hours ago.
                conviction(["PL"], now),
                conviction(["DE", "FR"], now),
                conviction(["GB"], now),
            ]
            day = (now - timedelta(days=1)).date()
            path = tmp_path / "pnc-0005.jsonl"
            path.write_bytes(daily_file(5, day, records))
            later = tmp_path / "pnc-0007.jsonl"
            later.write_bytes(daily_file(7, day + timedelta(days=2), []))

            wrong_code, wrong_out, _ = await fno(custody, "daily-file", str(path))
            code1, out1, err1 = await fno(feed, "daily-file", str(path))
            code2, out2, _ = await fno(feed, "daily-file", str(path), str(later))
            code3, out3, _ = await fno(
                feed, "daily-file", "-", stdin=b'{"record_type": "header"}\n'
            )
            ids = h.ids()

            async def all_closed():
                return all(h.store.record(i).closed_at for i in ids)

            await eventually(all_closed, what="notifications closed")
            sue = await signed_in(tmp_path, url, "sue", "Sue Park", "supervisor")
            ann = await signed_in(tmp_path, url, "ann", "Ann Lee", "senior_caseworker")

            async def listed():
                code, out, err = await fno(sue, "cases", "--kind", "notification", "--json")
                assert code == 0, err
                rows = [r for r in json.loads(out) if r["case_id"] in ids]
                return rows if len(rows) == 3 else None

            rows = await listed() or await eventually(listed, what="visibility")
            _, summary, _ = await fno(sue, "notifications", "summary", "--json")
            table_code, table, table_err = await fno(sue, "notifications", "summary")
            _, alerts, _ = await fno(sue, "notifications", "alerts", "--json")
            code_s, stuck, err_s = await fno(sue, "cases", "--stuck", "--json")
            _, files_out, _ = await fno(sue, "notifications", "files", "--json")
            files_code, _, files_err = await fno(sue, "notifications", "files")
            _, acked, _ = await fno(
                sue, "notifications", "list", "--status", "acknowledged", "--country", "PL",
                "--json",
            )  # fmt: skip
            list_code, _, list_err = await fno(sue, "notifications", "list")
            show_code, shown, show_err = await fno(sue, "show", ids[0], "--json", "--reason", "t")
            [alert] = json.loads(alerts)
            accept = ("notifications", "accept", str(alert["id"]), "--reason", "PNC: no file 6")
            refused_code, _, refused_err = await fno(sue, *accept)
            accepted_code, _, accepted_err = await fno(ann, *accept)
            again_code, _, _ = await fno(ann, *accept)
            _, open_after, _ = await fno(sue, "notifications", "alerts", "--json")
            all_code, _, all_err = await fno(sue, "notifications", "alerts", "--all")
    # A custody system's credential may not send daily files: refused, nothing taken.
    assert wrong_code == AUTH_EXIT and json.loads(wrong_out)["status"] == "forbidden"
    first, repeat, seventh = (json.loads(line) for line in (out1 + out2).splitlines())
    assert code1 == 0, err1
    assert first["status"] == "ingested" and first["notifications_new"] == 3
    assert first["started"] == 3
    assert repeat["status"] == "already_ingested" and repeat["started"] == 0
    assert seventh["sequence"] == 7 and seventh["missing_before"] == [6]
    assert code2 == 0 and code3 == 1 and json.loads(out3)["status"] == "refused"
    assert {r["nationality"] for r in rows} == {"PL", "DE", "FR"}
    assert {r["outcome"] for r in rows} == {"NOTIFICATION_ACKNOWLEDGED"}
    total = json.loads(summary)["total"]
    assert (total["notifications"], total["sent"], total["acknowledged"], total["overdue"]) == (
        3,
        3,
        3,
        0,
    )
    assert table_code == 0, table_err
    assert "PL" in table and "daily files received: 2" in table
    assert alert["key"] == "missing_file:6"
    assert code_s == 0, err_s
    assert any(
        r["case_id"] == "daily-file-6" and "not received" in r["why"] for r in json.loads(stuck)
    )
    assert [f["sequence"] for f in json.loads(files_out)] == [7, 5]
    assert files_code == 0, files_err
    assert len(json.loads(acked)) == 1
    assert list_code == 0, list_err
    assert show_code == 0, show_err
    state = json.loads(shown)
    assert NOTIFICATION.owns(state["case_id"])
    assert state["outcome"] == Outcome.NOTIFICATION_ACKNOWLEDGED.value
    # A supervisor may not accept an alert (the API refuses: exit 2); a senior
    # caseworker may, once (again: already accepted, exit 1).
    assert refused_code == AUTH_EXIT and refused_err.strip()
    assert accepted_code == 0, accepted_err
    assert again_code == 1
    assert json.loads(open_after) == []
    assert all_code == 0, all_err
