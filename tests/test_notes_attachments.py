"""Staff notes and attachments in the case store (issue 21): kept out of the workflow,
each write logged as a collection and each read as a consultation with its purpose,
the limits on kind, media type and size, destruction with the case's files; on SQLite,
and PostgreSQL when ``FNO_TEST_DATABASE_URL`` is set. Then the HTTP API over them."""

from __future__ import annotations

import hashlib

import pytest

from store.case_files import (
    MAX_ATTACHMENT_BYTES,
    AttachmentRefused,
    Staff,
    is_attachment_id,
)
from store.cases import CaseStore
from tests.support import api_client, bearer, casework_awaiting, harness
from tests.support_databases import DATABASES

SAM = Staff(name="Sam Jones", subject="tests:sam", role="caseworker")
PDF = b"%PDF-1.4 representations"


@pytest.fixture(params=DATABASES)
def store(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    s = CaseStore.migrated(url)
    yield s
    s.engine.dispose()


def _actions(store: CaseStore, case_id: str) -> list[tuple[str, str | None]]:
    return [(e.action, e.document_id) for e in store.access_log(case_id)]


def test_notes_are_kept_in_order_and_every_act_is_logged(store):
    case = "casework-notes-1"
    first = store.add_note(case, "Called the prison: release date 3 March", by=SAM)
    store.add_note(case, "Solicitor asked for an extension", by=SAM)
    read = store.notes(case, by=SAM, purpose="preparing the decision")
    assert [n.id for n in read] == sorted(n.id for n in read) and read[0].id == first.id
    assert read[0].author == "Sam Jones" and read[0].role == "caseworker"
    assert [a for a, _ in _actions(store, case)].count("collection") == 2
    assert [a for a, _ in _actions(store, case)].count("consultation") == 1
    with pytest.raises(ValueError):
        store.add_note(case, "   ", by=SAM)


def test_an_attachment_is_kept_by_claim_check_and_read_with_a_purpose(store):
    case = "casework-att-1"
    att = store.add_attachment(
        case,
        kind="representations",
        filename="reps.pdf",
        media_type="application/pdf",
        content=PDF,
        by=SAM,
    )
    assert is_attachment_id(att.id) and att.size == len(PDF)
    assert att.sha256 == hashlib.sha256(PDF).hexdigest()
    [listed] = store.attachments(case)
    assert listed.id == att.id and not listed.destroyed
    back = store.read_attachment(case, att.id, by=SAM, purpose="reading the representations")
    assert back.content == PDF
    assert ("collection", att.id) in _actions(store, case)
    assert ("consultation", att.id) in _actions(store, case)
    with pytest.raises(KeyError):
        store.read_attachment("casework-other", att.id, by=SAM, purpose="wrong case")


@pytest.mark.parametrize(
    ("kind", "media_type", "size"),
    [
        ("selfie", "application/pdf", 10),
        ("other", "application/zip", 10),
        ("other", "text/plain", 0),
        ("other", "text/plain", MAX_ATTACHMENT_BYTES + 1),
    ],
)
def test_attachments_outside_the_limits_are_refused(store, kind, media_type, size):
    with pytest.raises(AttachmentRefused):
        store.add_attachment(
            "casework-x",
            kind=kind,
            filename="f",
            media_type=media_type,
            content=b"x" * size,
            by=SAM,
        )
    assert store.attachments("casework-x") == []


def test_the_case_files_are_destroyed_for_real(store):
    case = "casework-destroy-1"
    store.add_note(case, "A note", by=SAM)
    att = store.add_attachment(
        case,
        kind="police_form",
        filename="mg.txt",
        media_type="text/plain",
        content=b"form",
        by=SAM,
    )
    assert store.destroy_case_files(case, step="s", reason="retention", actor="case") == 2
    assert store.read_attachment(case, att.id, by=SAM, purpose="audit").content is None
    assert [n.text for n in store.notes(case, by=SAM, purpose="audit")] == [None]
    assert [a.destroyed for a in store.attachments(case)] == [True]
    assert ("erasure", None) in _actions(store, case)


async def test_notes_and_attachments_over_the_api(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        cw = bearer("caseworker", "Sam Jones", X_Reason="preparing the decision")
        url = f"/cases/{casework.id}"
        async with api_client(h.client, h.store) as http:
            note = await http.post(f"{url}/notes", json={"text": "Spoke to the OM"}, headers=cw)
            police = await http.post(
                f"{url}/notes", json={"text": "Mine too"}, headers=bearer("police_officer")
            )
            notes = await http.get(f"{url}/notes", headers=cw)
            no_reason = await http.get(f"{url}/notes", headers=bearer("caseworker"))
            up = await http.post(
                f"{url}/attachments",
                params={"kind": "representations", "filename": "reps.pdf"},
                content=PDF,
                headers={**cw, "Content-Type": "application/pdf"},
            )
            zipped = await http.post(
                f"{url}/attachments",
                params={"kind": "other", "filename": "a.zip"},
                content=b"PK",
                headers={**cw, "Content-Type": "application/zip"},
            )
            big = await http.post(
                f"{url}/attachments",
                params={"kind": "other", "filename": "big.txt"},
                content=b"x" * (MAX_ATTACHMENT_BYTES + 1),
                headers={**cw, "Content-Type": "text/plain"},
            )
            att_id = up.json()["id"]
            listed = await http.get(f"{url}/attachments", headers=cw)
            got = await http.get(f"{url}/attachments/{att_id}", headers=cw)
            missing = await http.get(f"{url}/attachments/att-{'0' * 32}", headers=cw)
            unknown = await http.post(
                "/cases/casework-nobody/notes", json={"text": "x"}, headers=cw
            )
            case = await http.get(url, headers=cw)
        assert note.status_code == 201 and note.json()["author"] == "Sam Jones"
        assert police.status_code == 403
        assert notes.status_code == 200 and [n["text"] for n in notes.json()] == ["Spoke to the OM"]
        assert no_reason.status_code == 403
        assert up.status_code == 201, up.text
        assert zipped.status_code == 415 and big.status_code == 413
        assert [a["id"] for a in listed.json()] == [att_id]
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert missing.status_code == 404 and unknown.status_code == 404
        # Nothing of them in the workflow: the case's state names neither.
        assert case.status_code == 200 and "Spoke to the OM" not in case.text
        assert att_id not in case.text
        log = [(e.action, e.document_id) for e in h.store.access_log(casework.id)]
        assert ("consultation", att_id) in log and ("collection", att_id) in log


def test_who_a_case_is_about_is_kept_once_and_each_label_shown_is_logged(store):
    from datetime import date

    assert store.record_subject(
        "casework-who-1", name="Ola Nowak", nationality="PL", date_of_birth=date(1990, 1, 2)
    )
    assert not store.record_subject(
        "casework-who-1", name="Someone Else", nationality="FR", date_of_birth=None
    )
    labels = store.label_cases(
        ["casework-who-1", "casework-who-none"],
        actor="Sam Jones",
        role="caseworker",
        subject="tests:sam",
        purpose="my list",
    )
    assert list(labels) == ["casework-who-1"] and labels["casework-who-1"].name == "Ola Nowak"
    assert [e.action for e in store.access_log("casework-who-1")] == ["consultation"]
    assert store.access_log("casework-who-none") == []


def test_a_decision_names_only_attachments_of_its_own_case(store):
    from access.case_files import unknown_attachments
    from models.decisions_casework import Representations

    att = store.add_attachment(
        "casework-reps-1",
        kind="representations",
        filename="r.pdf",
        media_type="application/pdf",
        content=PDF,
        by=SAM,
    )
    other = f"att-{'1' * 32}"
    ok = Representations(received_on="2026-11-30", attachment_id=att.id)
    bad = Representations(received_on="2026-11-30", attachment_id=other)
    none = Representations(received_on="2026-11-30")
    assert unknown_attachments(store, "casework-reps-1", ok) == []
    assert unknown_attachments(store, "casework-reps-1", bad) == [other]
    assert unknown_attachments(store, "casework-other", ok) == [att.id]
    assert unknown_attachments(store, "casework-reps-1", none) == []
