"""Located later (DOMAIN.md step 7): a new custody event for a subject with an open
Criminal Casework case tells that case the subject is located — matched by the person
index (PNC ID, or a name or alias with date of birth and nationality), here under an
alias and without the PNC ID. A different person (another date of birth) is told
nothing. Real worker, time-skipping server."""

from __future__ import annotations

from access.policy import redact
from models.case import Stage
from models.event import CustodyEvent
from models.person_match import normalised_name, person_keys
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from store.person_index import PersonIndex
from tests.support import custody_event, harness, state_of, until, until_stage
from workflows.encounter_located import told_by


def as_other(event: CustodyEvent, ref: str, **subject: object) -> CustodyEvent:
    """The same kind of event from another custody, the subject's fields changed."""
    return event.model_copy(
        update={
            "custody_reference": ref,
            "force": "kent",
            "subject": event.subject.model_copy(update=subject),
        }
    )


async def past_lookup(h, handle):
    """The encounter once its lookup is done (its ACRO check is requested after it)."""
    return await until(
        handle,
        lambda s: any(e.kind == "request" for e in s.timeline),
        what="ACRO check requested",
        skip=h.env,
    )


def test_names_normalise_whatever_the_order_case_and_accents():
    assert normalised_name("NOWAK, Jan") == normalised_name(" jan   nowak ") == "jan nowak"
    assert normalised_name("Jóse-María O'Neil") == "jose maria neil o"
    assert normalised_name("Jan Piotr Nowak") != normalised_name("Jan Nowak")
    event = custody_event(aliases=["Jan NOWAK"])
    keys = person_keys(event.subject, LOCAL_SUBJECT_KEY_SECRET)
    assert [k for k, _ in keys] == ["pnc", "name", "name"]
    # Keyed hashes only: no name, date of birth or PNC ID in clear.
    assert not any("nowak" in v or "1983" in v or "/" in v for _, v in keys)


async def test_rearrest_under_an_alias_without_pnc_tells_the_open_case(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        first = custody_event(nationality="PT", aliases=["Jan NOWAK"], custody_reference="R-1")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        h.world(first, SubjectSpec(replies={"PT": reply}, located_after_days=None))
        enc1 = await h.start(first)
        state = await until(enc1, lambda s: s.casework_id is not None, what="referral", skip=h.env)
        casework = h.client.get_workflow_handle(state.casework_id)
        await until_stage(casework, Stage.ICE_TASKING, skip=h.env)
        # Indexed: the PNC ID and both names point at the case.
        index = PersonIndex(h.store.engine)
        assert index.cases_of(person_keys(first.subject, LOCAL_SUBJECT_KEY_SECRET)) == [casework.id]

        # Another person: same alias, another date of birth.
        other = as_other(
            first,
            "R-2",
            family_name="Nowak",
            given_names="Jan",
            aliases=[],
            pnc_id=None,
            date_of_birth=first.subject.date_of_birth.replace(year=1990),
        )
        enc_other = await h.start(other)
        other_state = await past_lookup(h, enc_other)
        assert told_by(other_state) == []

        # The same person, re-arrested in Kent under the alias, no PNC ID given.
        again = as_other(
            first, "R-3", family_name="NOWAK", given_names="jan", aliases=[], pnc_id=None
        )
        enc2 = await h.start(again)
        case = await until(casework, lambda s: s.in_custody is not None, what="located", skip=h.env)
        enc2_state = await state_of(enc2)
    assert case.in_custody.encounter_id == enc2.id
    assert case.in_custody.force == "kent"
    assert case.in_custody.since == again.encountered_at
    assert case.custody_events_seen == [enc2.id]
    located = [e for e in case.timeline if e.data.get("located_by") == "custody_event"]
    # (the location recorded, and the case's acting on it: both name the encounter)
    assert located and {e.data["encounter_id"] for e in located} == {enc2.id}
    assert told_by(enc2_state) == [casework.id]
    told = [e for e in enc2_state.timeline if e.data.get("located_by") == "custody_event"]
    assert [(e.kind, e.data["casework_id"]) for e in told] == [("step", casework.id)]
    # A police officer's view of the encounter shows nothing of the casework case.
    assert told_by(redact(enc2_state)) == []
    assert not any("casework_id" in e.data for e in redact(enc2_state).timeline)


async def test_a_witness_is_located_too(ts_env, tmp_path):
    reason = "witness"
    async with harness(ts_env, tmp_path) as h:
        first = custody_event(nationality="PT", custody_reference="W-1")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        h.world(first, SubjectSpec(replies={"PT": reply}, located_after_days=None))
        enc1 = await h.start(first)
        state = await until(enc1, lambda s: s.casework_id is not None, what="referral", skip=h.env)
        casework = h.client.get_workflow_handle(state.casework_id)
        await until_stage(casework, Stage.ICE_TASKING, skip=h.env)
        # Same PNC ID: found by it (and by the subject key the case's ID is made of).
        witness = as_other(first, "W-2").model_copy(update={"reason": reason})
        enc2 = await h.start(witness)
        case = await until(casework, lambda s: s.in_custody is not None, what="located", skip=h.env)
    assert case.in_custody.encounter_id == enc2.id


def test_indexing_is_idempotent_and_keys_point_at_each_case(tmp_path):
    from store.cases import CaseStore

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    CaseStore.current(f"sqlite:///{tmp_path / 'casework.db'}")  # 0006 is the head
    index = PersonIndex(store.engine)
    keys = person_keys(custody_event(aliases=["Jan Nowak"]).subject, LOCAL_SUBJECT_KEY_SECRET)
    assert index.add(keys, "casework-a") == 3
    assert index.add(keys, "casework-a") == 0
    assert index.add(keys[1:2], "casework-b") == 1
    assert index.cases_of(keys[2:]) == ["casework-a"]
    assert index.cases_of(keys[1:2]) == ["casework-a", "casework-b"]
    assert index.cases_of([]) == []


def test_two_pnc_ids_are_two_people_however_alike_their_names(tmp_path):
    """A name match is the same person only when the PNC IDs do not say otherwise: an
    event with a PNC ID matches a case of a person with another PNC ID by neither."""
    from store.cases import CaseStore

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    index = PersonIndex(store.engine)
    first = custody_event(pnc_id="20/0000001C").subject
    index.add(person_keys(first, LOCAL_SUBJECT_KEY_SECRET), "casework-first")
    namesake = custody_event(pnc_id="20/0000002C").subject  # same name, DOB, nationality
    no_pnc = custody_event(pnc_id="20/0000003C").subject.model_copy(update={"pnc_id": None})
    assert index.same_person(person_keys(namesake, LOCAL_SUBJECT_KEY_SECRET)) == []
    assert index.same_person(person_keys(first, LOCAL_SUBJECT_KEY_SECRET)) == ["casework-first"]
    # Without a PNC ID the name, date of birth and nationality decide.
    assert index.same_person(person_keys(no_pnc, LOCAL_SUBJECT_KEY_SECRET)) == ["casework-first"]
    # A case of a person indexed with no PNC ID is matched by name whatever the event's.
    index.add(person_keys(no_pnc, LOCAL_SUBJECT_KEY_SECRET)[0:], "casework-nopnc")
    assert index.same_person(person_keys(namesake, LOCAL_SUBJECT_KEY_SECRET)) == ["casework-nopnc"]
