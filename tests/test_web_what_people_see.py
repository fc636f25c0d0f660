"""What people see (issue 21), through the real ASGI stack on a real case: decision
forms with no answer chosen for the user where it changes the outcome (yes/no with
none checked, choices starting empty), needed fields marked, deprecated fields not
asked; lists showing who the case is about to those who may read it (each logged);
stage filters taking a code or the words; the case page's notes and attachments.

Assertions are on structure (inputs, attributes, IDs, the access log), not wording."""

from __future__ import annotations

import re
import uuid

import pytest

from models.case import Stage
from store.case_files import Staff
from tests.support import (
    allocate,
    api_client,
    bearer,
    custody_event,
    decide,
    decision,
    harness,
    patient_policy,
    through_checklist,
    until,
)
from tests.support_web import browserless, casework_awaiting_located, csrf_of, sign_in

PDF = b"%PDF-1.4 a police form"


def _inputs(html: str, name: str) -> list[str]:
    return re.findall(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', html)


def _select(html: str, name: str) -> str:
    found = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert found, name
    return found.group(1)


@pytest.mark.devserver
async def test_forms_lists_notes_and_attachments(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        event = custody_event(
            nationality="PL", force=force, family_name="Wiśniewska", given_names="Ola"
        )
        casework_id = await casework_awaiting_located(h, event)
        casework = h.client.get_workflow_handle(casework_id)
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sam")
            located = await http.get(f"/web/cases/{casework_id}", params={"purpose": "review"})
            listed = await http.get("/web/cases", params={"force": force})
            by_words = await http.get(
                "/web/cases",
                params={"force": force, "stage": Stage.ICE_TASKING.value.upper()},
            )
            by_code = await http.get(
                "/web/cases", params={"force": force, "stage": Stage.ICE_TASKING.name.lower()}
            )
            wrong = await http.get("/web/cases", params={"force": force, "stage": "nowhere"})
            token = csrf_of(located.text)
            noted = await http.post(
                f"/web/cases/{casework_id}/notes",
                data={"text": "Prison liaison rang", "csrf_token": token, "purpose": "review"},
            )
            att = h.store.add_attachment(
                casework_id,
                kind="police_form",
                filename="mg5.pdf",
                media_type="application/pdf",
                content=PDF,
                by=Staff(name="Sam Jones", subject="tests:Sam Jones", role="caseworker"),
            )
            await decide(
                casework,
                decision("Sam Jones", "caseworker", "Found", kind="subject_located"),
            )
            # A CC manager allocates it to Sam (signed in as local:sam; the tests' Sam
            # stands in and passes the located checklist): the detention decision next.
            await allocate(
                casework,
                "Sam Jones",
                owner_id="local:sam",
                stand_ins=[("tests:Sam Jones", "Sam Jones")],
            )
            await through_checklist(h, casework)
            await until(casework, lambda s: "detention" in s.awaiting, what="detention")
            page = await http.get(f"/web/cases/{casework_id}", params={"purpose": "review"})
            opened = await http.get(
                f"/web/cases/{casework_id}/attachments/{att.id}", params={"purpose": "review"}
            )
            missing_reason = await http.post(
                f"/web/cases/{casework_id}/decisions",
                data={
                    "kind": "detention",
                    "f.detain": "false",
                    "reason": "Settled family life",
                    "csrf_token": csrf_of(page.text),
                    "purpose": "review",
                },
            )
        async with api_client(h.client, h.store) as api:
            rows = await api.get(
                "/cases",
                params={"force": force, "kind": "casework", "subjects": "true"},
                headers=bearer("caseworker", X_Reason="my cases"),
            )
            police_rows = await api.get(
                "/cases",
                params={"force": force, "subjects": "true"},
                headers=bearer("police_officer", force=force, X_Reason="custody"),
            )
            bad_stage = await api.get(
                "/cases", params={"stage": "nowhere"}, headers=bearer("caseworker")
            )
        log = h.store.access_log(casework_id)

    # Subject located: its deprecated fields (case owner, pending prosecution) not asked.
    assert located.status_code == 200
    assert not _inputs(located.text, "f.case_owner")
    assert 'name="f.pending_prosecution"' not in located.text
    # Detention: yes/no with none checked and required; a choice that starts empty.
    detain = _inputs(page.text, "f.detain")
    assert len(detain) == 2 and all("required" in i and "checked" not in i for i in detain)
    sentence = _inputs(page.text, "f.serving_prison_sentence")
    assert len(sentence) == 2 and not any("checked" in i for i in sentence)
    reasons = _select(page.text, "f.not_detained_reason")
    assert re.match(r'\s*<option value="">', reasons) and "selected" not in reasons
    assert 'data-needed="detain=false"' in page.text
    # Not detained without the reason needed for it: refused at the form, nothing sent.
    assert missing_reason.status_code == 422 and 'class="error"' in missing_reason.text
    # Lists: who the case is about, for a caseworker; each one shown logged.
    assert listed.status_code == 200 and "Ola Wiśniewska" in listed.text
    assert casework_id in by_words.text and casework_id in by_code.text
    assert wrong.status_code == 200 and 'role="alert"' in wrong.text
    assert casework_id not in wrong.text
    [row] = rows.json()
    assert row["subject"]["name"] == "Ola Wiśniewska" and row["stage_words"]
    assert police_rows.status_code == 200
    assert all(r["case_id"] != casework_id for r in police_rows.json())
    assert bad_stage.status_code == 422 and bad_stage.json()["why"] == "unknown_stage"
    listings = [e for e in log if e.action == "consultation" and "case list" in e.justification]
    assert len(listings) >= 3  # the web list twice (words, code) and the API's
    # Notes and attachments on the case page, in the case store only.
    assert noted.status_code in (302, 303)
    assert "Prison liaison rang" in page.text and att.id in page.text
    assert opened.status_code == 200 and opened.content == PDF
    assert ("consultation", att.id) in [(e.action, e.document_id) for e in log]
