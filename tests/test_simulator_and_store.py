"""The simulated world and the case store, on SQLite and — when CI points
``FNO_TEST_DATABASE_URL`` at it — PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from activities.gateways import PermanentGatewayError, TransientGatewayError
from sim.world import Simulator
from sim.world_file import FaultSpec, ReplySpec, SubjectSpec, WorldFile
from store.cases import CaseStore, make_engine
from store.migrate import (
    HEAD_REVISION,
    SchemaOutOfDateError,
    current_revision,
    head_revision,
    require_current,
    upgrade,
    upgrade_if_behind,
)
from tests.support_databases import DATABASES

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def key() -> str:
    return uuid.uuid4().hex[:20]


def test_generated_subjects_are_reproducible_and_follow_the_published_figures(engine):
    a = Simulator(engine, WorldFile(seed=7))
    b = Simulator(engine, WorldFile(seed=7))
    subjects = [f"subject-{i}" for i in range(3000)]
    assert [a.subject(s) for s in subjects[:50]] == [b.subject(s) for s in subjects[:50]]
    replies = [a.subject(s).replies["PL"] for s in subjects]
    convicted = sum(bool(r.convictions) for r in replies) / len(replies)
    serious = sum(any(c.offence in _serious() for c in r.convictions) for r in replies) / len(
        replies
    )
    assert 0.14 < convicted < 0.20  # 575 of 3,442 (16.7%)
    assert 0.002 < serious < 0.02  # 29 of 3,442 (0.84%)
    eu_days = sorted(r.after_days for r in replies if r.after_days is not None)
    assert 3 < sum(eu_days) / len(eu_days) < 8  # EU mean ~6 days
    assert eu_days[0] < 1 / 24  # some "no trace" answers within the hour
    ng = [a.subject(s).replies["NG"].after_days for s in subjects]
    answered = [d for d in ng if d is not None]
    assert 50 < sum(answered) / len(answered) < 85  # non-EU mean ~66 days
    assert 0.1 < ng.count(None) / len(ng) < 0.2  # no duty to reply


def _serious() -> set[str]:
    from models.reference import offences

    return {o.code for o in offences().values() if o.serious}


def test_a_reply_comes_when_the_world_says_and_not_before(engine):
    sim = Simulator(engine)
    subject = key()
    sim._subjects[subject] = SubjectSpec(replies={"DE": ReplySpec(after_days=2)})
    ref = sim.request_check(f"{subject}/DE", "case", subject, "DE", "criminal_proceedings", T0, {})
    assert sim.fetch_reply(ref, T0 + timedelta(days=1, hours=23)) is None
    reply = sim.fetch_reply(ref, T0 + timedelta(days=2))
    assert reply is not None and reply.country == "DE" and reply.convictions == []


def test_side_effects_happen_once_per_key(engine):
    sim = Simulator(engine)
    subject = key()
    first = sim.add_wanted_marker(f"{subject}/icd5079", subject)
    again = sim.add_wanted_marker(f"{subject}/icd5079", subject)
    assert first == again
    assert sim.count("wanted_marker_added", subject) == 1
    assert sim.wanted_marker_on(subject)
    sim.remove_wanted_marker(f"{subject}/icd5080", subject)
    assert not sim.wanted_marker_on(subject)


def test_a_lost_answer_still_did_the_work_once(engine):
    world = WorldFile(faults=FaultSpec(timeout_rate=1.0, systems=["pnc"]))
    sim = Simulator(engine, world)
    subject = key()
    with pytest.raises(TransientGatewayError):
        sim.add_wanted_marker(f"{subject}/icd5079", subject)
    assert sim.count("wanted_marker_added", subject) == 1  # done, the answer lost
    world.faults.timeout_rate = 0.0
    sim.add_wanted_marker(f"{subject}/icd5079", subject)  # the retry
    assert sim.count("wanted_marker_added", subject) == 1


def test_a_permanent_refusal_is_not_a_fault_to_retry(engine):
    sim = Simulator(engine)
    subject = key()
    sim._subjects[subject] = SubjectSpec(refuse={"pnc": ["wanted_marker_added"]})
    with pytest.raises(PermanentGatewayError):
        sim.add_wanted_marker(f"{subject}/icd5079", subject)
    assert sim.count("wanted_marker_added", subject) == 0


def test_a_stored_document_is_stored_once_and_its_collection_logged_once(engine):
    store = CaseStore(engine)
    doc, case = f"certificate-{key()}", f"case-{key()}"
    for _ in range(2):  # a retried activity
        store.put_document(
            doc,
            case,
            "acro_certificate",
            {"convictions": ["MURDER"]},
            actor="ACRO",
            role="system",
            justification="country reply",
        )
    log = store.access_log(case)
    assert [(e.action, e.actor, e.justification) for e in log] == [
        ("collection", "ACRO", "country reply")
    ]


def test_destruction_empties_the_content_and_is_logged_with_step_and_reason(engine):
    store = CaseStore(engine)
    doc, case = f"certificate-{key()}", f"case-{key()}"
    store.put_document(
        doc,
        case,
        "acro_certificate",
        {"text": "convicted of murder"},
        actor="ACRO",
        role="system",
        justification="country reply",
    )
    assert store.destroy_document(doc, step="disclosability", reason="non-disclosable", actor=case)
    assert not store.destroy_document(doc, step="disclosability", reason="again", actor=case)
    row = store.document(doc)
    assert row is not None and row.content is None and row.destroyed_at is not None
    with engine.connect() as conn:  # nothing of it left in the row
        raw = conn.exec_driver_sql(
            "SELECT content FROM document WHERE id = %s"
            if engine.dialect.name == "postgresql"
            else "SELECT content FROM document WHERE id = ?",
            (doc,),
        ).scalar_one()
    assert raw is None
    erasures = [e for e in store.access_log(case) if e.action == "erasure"]
    assert len(erasures) == 1
    assert erasures[0].justification == "disclosability: non-disclosable"


def test_reading_a_document_needs_a_justification_and_is_logged(engine):
    store = CaseStore(engine)
    doc, case = f"certificate-{key()}", f"case-{key()}"
    store.put_document(
        doc,
        case,
        "acro_certificate",
        {"x": 1},
        actor="ACRO",
        role="system",
        justification="country reply",
    )
    with pytest.raises(PermissionError):  # no justification
        store.read_document(doc, actor="Sue Park", role="supervisor", justification=" ")
    assert store.read_document(
        doc, actor="Sue Park", role="supervisor", justification="quality review"
    ) == {"x": 1}
    reads = [e for e in store.access_log(case) if e.action == "consultation"]
    assert [(e.actor, e.justification) for e in reads] == [("Sue Park", "quality review")]


def test_a_failed_statement_names_no_values(engine):
    """Its error reaches the worker's log and Temporal: no personal data in it."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    secret = "Kowalski 1983-05-17 ROBBERY"
    with pytest.raises(SQLAlchemyError) as failed, engine.begin() as conn:
        conn.execute(text("INSERT INTO no_such_table (a) VALUES (:a)"), {"a": secret})
    assert secret not in str(failed.value)


# --- the schema revision, read without Alembic -----------------------------------------


def test_the_head_revision_constant_is_alembics_head():
    # A new migration in store/migrations/versions comes with HEAD_REVISION bumped.
    assert HEAD_REVISION == head_revision()


def test_the_schema_check_reads_alembics_version_table(engine, monkeypatch):
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        alembic_says = MigrationContext.configure(connection).get_current_revision()
    assert current_revision(engine) == alembic_says == HEAD_REVISION
    require_current(engine)

    def no_alembic(_engine):
        raise AssertionError("upgraded a current database")

    monkeypatch.setattr("store.migrate.upgrade", no_alembic)
    upgrade_if_behind(engine)  # current: Alembic not run


def test_a_database_behind_the_code_is_refused_and_upgraded_when_asked(tmp_path):
    from alembic import command

    from store.migrate import _config

    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert current_revision(fresh) is None
    with pytest.raises(SchemaOutOfDateError, match="revision none, this code needs"):
        require_current(fresh)
    behind = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    config = _config(behind)
    with behind.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    assert current_revision(behind) == "0005"
    with pytest.raises(
        SchemaOutOfDateError, match=f"revision 0005, this code needs {HEAD_REVISION}"
    ):
        CaseStore.current(str(behind.url))
    CaseStore.migrated(str(behind.url))
    assert current_revision(behind) == HEAD_REVISION
    require_current(behind)
    for e in (fresh, behind):
        e.dispose()
