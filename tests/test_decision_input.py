"""Bad decisions, whatever their shape, are refused with a clear message and leave the
case unchanged: wrong types, unknown kinds, oversized or hostile strings, dates that
make no sense, unknown cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from access.decisions import send_decision
from access.errors import CaseNotFound, DecisionRefused, NotPermitted
from access.policy import case_ref, may_decide
from identity.principal import Principal
from models.decisions import DecisionRequest
from sim.world_file import ConvictionSpec, ReplySpec
from store.cases import REFUSALS_KEPT
from tests.support import casework_awaiting, harness, state_of

HOSTILE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "x" * 5000, "'; DROP TABLE access_log;--", "\x00", "<b>", "\u202e"]),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
)


@st.composite
def bad_decision(draw) -> dict:
    """A decision payload that must not be accepted for a case awaiting 'subject_located'."""
    base = {
        "actor": "Sam Jones",
        "role": "caseworker",
        "reason": "found",
        "decision": {"kind": "subject_located", "case_owner": "Sam Jones"},
    }
    how = draw(
        st.sampled_from(
            ["kind", "type", "long", "role", "extra", "missing", "future", "other_kind"]
        )
    )
    value = draw(HOSTILE)
    if how == "kind":
        base["decision"]["kind"] = f"unknown_{value}"
    elif how == "type":
        base["decision"]["case_owner"] = {"nested": value}
    elif how == "long":
        base["reason"] = "x" * 4001
    elif how == "role":
        base["role"] = draw(
            st.sampled_from(["supervisor", "director", "police_officer", f"admin{value}"])
        )
    elif how == "extra":
        base["decision"]["is_admin"] = value
    elif how == "missing":
        base.pop(draw(st.sampled_from(["actor", "role", "reason", "decision"])))
    elif how == "future":
        base["decision"] = {"kind": "deportation_enforced", "removed_on": "2999-01-01"}
    else:
        base["decision"] = {"kind": "detention", "detain": True}
    return base


_DRAWN: list[dict] = []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad_decision())
def _draw(payload: dict) -> None:
    _DRAWN.append(payload)


async def test_malformed_and_hostile_decisions_are_refused_and_change_nothing(ts_env, tmp_path):
    _DRAWN.clear()
    _draw()
    async with harness(ts_env, tmp_path) as h:
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="ROBBERY")],
            certificate_purpose="immigration_deportation",
        )
        casework = await casework_awaiting(
            h, "subject_located", reply=reply, located_after_days=None
        )
        before = (await state_of(casework)).model_dump()
        timeline = len(before["timeline"])
        refusals = 0
        for payload in _DRAWN:
            try:
                req = DecisionRequest.model_validate(payload)
            except ValidationError as err:
                assert err.errors(), payload  # refused before it reaches the case
                continue
            who = Principal(subject=f"local:{req.actor}", name=req.actor, role=req.role)
            req = req.model_copy(update={"actor_id": who.subject})
            if not may_decide(who, case_ref(casework.id), req.decision.kind):
                # A role that may not make it: refused by the policy, never sent.
                with pytest.raises(NotPermitted):
                    await send_decision(h.client, casework.id, who, req)
                continue
            with pytest.raises(DecisionRefused) as refused:
                await send_decision(h.client, casework.id, who, req, refusals=h.store)
            assert refused.value.args[0].startswith("Refused"), payload
            refusals += 1
        someone = Principal(subject="local:a", name="a", role="caseworker")
        with pytest.raises(CaseNotFound):
            await send_decision(
                h.client,
                "casework-nope",
                someone,
                DecisionRequest.model_validate(
                    {
                        "actor": "a",
                        "role": "caseworker",
                        "actor_id": "local:a",
                        "reason": "why",
                        "decision": {"kind": "subject_located", "case_owner": "x"},
                    }
                ),
            )
        after = (await state_of(casework)).model_dump()
        logged = h.store.refusals(casework.id)
    # Unchanged, its timeline too: the refusals are in the case store's log.
    assert len(after["timeline"]) == timeline
    assert after == before
    assert logged.total == refusals and len(logged.entries) == min(refusals, REFUSALS_KEPT)
