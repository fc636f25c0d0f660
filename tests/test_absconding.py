"""Absconding after the decision to deport (issue 21, DOMAIN.md step 10) on the
time-skipping server: the subject is wanted/missing again (ICD.5079 re-added, liable to
deport) until located — by a custody event or a ``subject_located`` decision — then
the marker comes off (ICD.5080) and enforcement is awaited again; ICE's own detention
records its legal power. Asserted on state, not wording."""

from __future__ import annotations

from datetime import UTC, datetime

from models.case import SUBJECT_IN_CUSTODY_SIGNAL, InCustody, Outcome, Stage
from tests.support import (
    CASEWORKER,
    FACTORS,
    ICE_OFFICER,
    awaiting,
    casework_awaiting,
    decide,
    decision,
    harness,
    through_stage1,
    to_stage1,
    until,
    until_stage,
)
from workflows.casework_located import DETENTION_POWER_EEA


async def deported_but_not_detained(h):
    """A Polish case decided for deportation, not detained, the order served, ICE asked
    to detain: awaiting enforcement."""
    casework = await casework_awaiting(h, "subject_located")
    await to_stage1(h, casework, detain=False)
    await through_stage1(h, casework)
    await decide(
        casework,
        decision(
            *CASEWORKER,
            "deport",
            kind="deportation",
            decision="deport",
            address_known=True,
            in_country_right_of_appeal=False,
            **FACTORS,
        ),
    )
    await awaiting(h, casework, "serve_deportation_order")
    await decide(
        casework,
        decision(*CASEWORKER, "signed", kind="serve_deportation_order", means="in_person"),
    )
    await awaiting(h, casework, "absconded")
    return casework


def absconded(on: str = "2018-01-03"):
    return decision(*ICE_OFFICER, "not at the address", kind="absconded", last_seen_on=on)


def enforced(ref: str):
    return decision(
        *ICE_OFFICER,
        "removed",
        kind="deportation_enforced",
        removed_on="2018-02-01",
        removal_reference=ref,
    )


async def test_absconding_wanted_again_until_a_custody_event_then_deported(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await deported_but_not_detained(h)
        state = await until(casework, lambda s: "subject_detained" in s.awaiting)
        assert state.stage is Stage.AWAITING_ENFORCEMENT
        first_marker = state.progress.references["ICD.5079"]
        await decide(casework, absconded())
        state = await until_stage(casework, Stage.LIABLE_TO_DEPORT_WANTED)
        assert state.outcome is Outcome.LIABLE_TO_DEPORT_WANTED
        assert state.progress.absconded == 1 and state.marker_on_pnc
        assert state.progress.references["ICD.5079"] != first_marker  # re-added, new ref
        key = state.subject_key
        assert h.sim.wanted_marker_on(key)
        # Months later, arrested again: a custody event locates the subject.
        await h.env.sleep(60 * 60 * 24 * 40)
        await casework.signal(
            SUBJECT_IN_CUSTODY_SIGNAL,
            InCustody(encounter_id="enc-again", force="kent", since=datetime.now(UTC)),
        )
        state = await until(casework, lambda s: "deportation_enforced" in s.awaiting)
        assert state.stage is Stage.AWAITING_ENFORCEMENT and state.outcome is None
        assert not state.marker_on_pnc and not h.sim.wanted_marker_on(key)
        # ICE detains (its power recorded), then removes.
        await decide(
            casework,
            decision(
                *ICE_OFFICER,
                "detained at the police station",
                kind="subject_detained",
                detained_on="2018-02-01",
                ice_reference="ICE-DET-7",
            ),
        )
        state = await until(casework, lambda s: s.detained is True)
        assert state.progress.ice_detention_power == DETENTION_POWER_EEA
        assert state.detention_power == DETENTION_POWER_EEA
        await decide(casework, enforced("REM-9"))
        final = await until(casework, lambda s: s.outcome is not None, what="closed")
    assert final.outcome is Outcome.DEPORTED
    assert final.progress.references["removal"] == "REM-9"
    assert final.progress.references["ICE detained"] == "ICE-DET-7"
    assert h.sim.count("wanted_marker_added", key) == 2
    assert h.sim.count("wanted_marker_removed", key) == 2
    # CID told the subject is liable to deport, wanted/missing again; then deported.
    assert h.sim.count("cid_outcome", key) == 2


async def test_absconding_then_located_by_decision_back_to_enforcement(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await deported_but_not_detained(h)
        await decide(casework, absconded())
        await awaiting(h, casework, "subject_located")
        state = await until(casework, lambda s: s.stage is Stage.LIABLE_TO_DEPORT_WANTED)
        # Wanted again: the review deadline passes, it is told, it goes on waiting.
        state = await until(casework, lambda s: bool(s.overdue), skip=h.env, step=_days(10))
        assert "wanted/missing review" in state.overdue
        assert "subject_located" in state.awaiting
        await decide(
            casework, decision(*ICE_OFFICER, "found at a new address", kind="subject_located")
        )
        await awaiting(h, casework, "deportation_enforced")
        await decide(casework, absconded("2018-04-01"))  # and again
        await awaiting(h, casework, "subject_located")
        await decide(casework, decision(*CASEWORKER, "found", kind="subject_located"))
        await awaiting(h, casework, "deportation_enforced")
        await decide(casework, enforced("REM-10"))
        final = await until(casework, lambda s: s.outcome is not None, what="closed")
    assert final.outcome is Outcome.DEPORTED
    assert final.progress.absconded == 2
    assert not final.marker_on_pnc


def _days(n: float):
    from datetime import timedelta

    return timedelta(days=n)
