"""Need-to-know: the one policy of who may read or decide what, deny by default, by
role, force and kind of case. Every door (the JSON API, the web app, the codec server)
asks here, through the access functions, before anything of a case is read.

Who may read (``READ``; ``Access``: full, redacted, or none):

    police officer       their own force's encounters, redacted: no certificates
    caseworker           encounters, casework cases, notifications out
    senior caseworker    encounters, casework cases, notifications out
    ACRO officer         encounters
    ICE officer          casework cases
    supervisor           everything (and the access log, the figures)
    CC Director          casework cases (and the access log, the figures)
    CC manager           casework cases (allocates them, manages their tasks)
    Detention Gatekeeper casework cases (accepts or rejects a proposal to detain)
    a system             nothing (systems use intake, by their scopes)

Who may decide what (``DECIDE``: by role and kind of case; always within what the role
may read, and within ``models.decisions.ROLES_FOR``): a police officer the identity
data of their own force's encounter; caseworkers casework, the identity data and
"resume after a fault"; senior caseworkers also the exclusion consultation and the
escalation of a notification; ICE officers located and enforced; the Director the
approval; ACRO officers the triage of an encounter's reply; supervisors nothing;
issue 21's kinds (``models.decisions_casework.NEW_ROLES_FOR``) every role named there:
the CC manager allocation and the tasks, the Detention Gatekeeper its decision. This
is a pre-check: the case's own validator stays the authority (stage, role, separation
of duties).

A case's kind comes from its ID (``access.kinds``). An encounter's force comes from its
ID, ``encounter-<force>-<REF>`` (the force lower case, the reference upper case), when
the ID splits one way only; else, and only when the policy needs the force, from the
case's ``FnoForce`` search attribute (``resolve_case``: a description of the workflow,
no payload decoded). A force that cannot be established refuses.

The functions (``p`` a ``identity.principal.Principal``, ``ref`` a ``CaseRef``):

    case_ref(case_id, force=None) -> CaseRef           kind and force from the ID
    await resolve_case(client, case_id, p) -> CaseRef  + the search attribute if needed
    needs_lookup(p, ref) -> bool                       whether resolve_case asks Temporal
    read_access(p, ref) -> Access; may_read(p, ref) -> bool; require_read(p, ref) -> Access
    may_decode(p, case_id | None) -> bool              the codec server: full access only
    may_decide(p, ref, kind) -> bool; decisions_for(p, ref); require_decide(p, ref, kind)
    readable_kinds(p) -> tuple[str, ...]; require_some_read(p); force_bound(p) -> bool
    may(p, capability) -> bool; require(p, capability)  AUDIT, FIGURES, NOTIFICATIONS,
                                                        ACCEPT_ALERTS, ENCODE, REOPEN,
                                                        CASE_FILES
    redact(state) -> RedactedEncounter                 the police officer's view

A refusal is ``access.errors.NotPermitted`` (403 at the API) with a reason code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from access.errors import NotPermitted
from access.kinds import CASEWORK, ENCOUNTER, KIND_NAMES, NOTIFICATION, kind_of
from identity.principal import Principal
from models import search
from models.case import EncounterState, TimelineEntry
from models.decisions_casework import NEW_ROLES_FOR
from models.event import ENCOUNTER_PREFIX, CustodyEvent


class Access(StrEnum):
    NONE = "none"
    REDACTED = "redacted"  # an encounter without its certificates
    FULL = "full"


E, C, N = ENCOUNTER.name, CASEWORK.name, NOTIFICATION.name
_ALL = {E: Access.FULL, C: Access.FULL, N: Access.FULL}

READ: dict[str, dict[str, Access]] = {
    "police_officer": {E: Access.REDACTED},
    "caseworker": dict(_ALL),
    "senior_caseworker": dict(_ALL),
    "acro_officer": {E: Access.FULL},
    "ice_officer": {C: Access.FULL},
    "supervisor": dict(_ALL),
    "director": {C: Access.FULL},
    "cc_manager": {C: Access.FULL},  # issue 21: allocates casework cases
    "detention_gatekeeper": {C: Access.FULL},  # issue 21: accepts or rejects detention
}
# Roles who read only the cases of their own force (the principal's ``force``).
FORCE_BOUND: frozenset[str] = frozenset({"police_officer"})

_CASEWORK_DECISIONS = frozenset(
    {
        "subject_located",
        "detention",
        "deportation",
        "admin_removal_referral",
        "deportation_enforced",
        "resume_after_fault",
        "ice_tasking_review",
        "immigration_certificate_outcome",  # issue 20 (h3)
    }
)


def _new_for(role: str) -> frozenset[str]:
    """Issue 21's decision kinds ``role`` makes (``models.decisions_casework``)."""
    return frozenset(k for k, roles in NEW_ROLES_FOR.items() if role in roles)


DECIDE: dict[str, dict[str, frozenset[str]]] = {
    "police_officer": {E: frozenset({"identity_data_supplied"})},
    "caseworker": {
        E: frozenset({"identity_data_supplied", "resume_after_fault"}),
        C: _CASEWORK_DECISIONS | _new_for("caseworker"),
        N: frozenset({"resume_after_fault"}),
    },
    "senior_caseworker": {
        E: frozenset({"resume_after_fault"}),
        C: _CASEWORK_DECISIONS | {"exclusion_consultation"} | _new_for("senior_caseworker"),
        N: frozenset({"notification_escalation", "resume_after_fault"}),
    },
    "ice_officer": {
        C: frozenset({"subject_located", "deportation_enforced"}) | _new_for("ice_officer")
    },
    "director": {C: frozenset({"director_approval"}) | _new_for("director")},
    # issue 21: the CC manager allocates and moves cases and manages their tasks; the
    # Detention Gatekeeper accepts or rejects a proposal to detain.
    "cc_manager": {C: _new_for("cc_manager")},
    "detention_gatekeeper": {C: _new_for("detention_gatekeeper")},
    "acro_officer": {E: frozenset({"triage"})},  # issue 20 (h2): triage of a reply
}


class Capability(StrEnum):
    AUDIT = "audit"  # the access log
    FIGURES = "figures"  # the dashboard: counts of every kind, no personal data
    NOTIFICATIONS = "notifications"  # notifications out: files, notifications, alerts
    ACCEPT_ALERTS = "accept_alerts"  # accept a notifications-out alert (not raised again)
    # The codec server's /codec/encode (when switched on, FNO_CODEC_ALLOW_ENCODE): it
    # encrypts what the caller sends under the live key, so only the role that
    # oversees every case may use it — no caseworker, police or decision-making role.
    ENCODE = "encode"
    # issue 21 (h4): reopen a closed Criminal Casework case (``access.reopening``).
    REOPEN = "reopen"
    # issue 21 (h4): add staff notes and attachments to a case (``access.case_files``).
    CASE_FILES = "case_files"


CAPABILITIES: dict[Capability, frozenset[str]] = {
    Capability.AUDIT: frozenset({"supervisor", "director"}),
    Capability.FIGURES: frozenset({"supervisor", "director"}),
    Capability.NOTIFICATIONS: frozenset({"caseworker", "senior_caseworker", "supervisor"}),
    Capability.ACCEPT_ALERTS: frozenset({"senior_caseworker"}),
    Capability.ENCODE: frozenset({"supervisor"}),
    Capability.REOPEN: frozenset({"senior_caseworker", "cc_manager"}),
    Capability.CASE_FILES: frozenset(
        {"caseworker", "senior_caseworker", "cc_manager", "detention_gatekeeper", "director"}
    ),
}
_WHAT = {
    Capability.AUDIT: "read the access log",
    Capability.FIGURES: "see the figures",
    Capability.NOTIFICATIONS: "see notifications out",
    Capability.ACCEPT_ALERTS: "accept an alert",
    Capability.ENCODE: "encode payloads at the codec server",
    Capability.REOPEN: "reopen a closed case",
    Capability.CASE_FILES: "add notes or attachments to a case",
}


@dataclass(frozen=True)
class CaseRef:
    """What the policy needs to know of a case: its ID, kind and (encounters) force."""

    case_id: str
    kind: str
    force: str | None = None


_EVENT = CustodyEvent.model_json_schema()["properties"]
_FORCE = re.compile(_EVENT["force"]["pattern"])
_REFERENCE = re.compile(_EVENT["custody_reference"]["pattern"])


def force_in_id(case_id: str) -> str | None:
    """The force of an encounter ID ``encounter-<force>-<REF>``, when the ID splits into
    a valid force and an upper-case custody reference one way only; else None."""
    if not case_id.startswith(ENCOUNTER_PREFIX):
        return None
    rest = case_id[len(ENCOUNTER_PREFIX) :]
    found = {
        rest[:at]
        for at, char in enumerate(rest)
        if char == "-"
        and _FORCE.fullmatch(rest[:at])
        and _REFERENCE.fullmatch(ref := rest[at + 1 :])
        and ref == ref.upper()
    }
    return found.pop() if len(found) == 1 else None


def case_ref(case_id: str, force: str | None = None) -> CaseRef:
    """The case's kind (``access.kinds``) and force: from its ID when the ID tells it,
    else ``force`` (a search attribute), else None."""
    kind = kind_of(case_id).name
    if kind != E:
        return CaseRef(case_id, kind)
    return CaseRef(case_id, kind, force_in_id(case_id) or force)


def _norm(force: str | None) -> str | None:
    return force.strip().lower() if force and force.strip() else None


def force_bound(p: Principal) -> bool:
    return p.role in FORCE_BOUND


def readable_kinds(p: Principal) -> tuple[str, ...]:
    """The kinds of case ``p`` may read some of (in ``KIND_NAMES`` order)."""
    if p.is_system or (force_bound(p) and _norm(p.force) is None):
        return ()
    allowed = READ.get(p.role, {})
    return tuple(k for k in KIND_NAMES if allowed.get(k, Access.NONE) is not Access.NONE)


def require_some_read(p: Principal) -> tuple[str, ...]:
    """``readable_kinds(p)``, or ``NotPermitted`` when ``p`` may read no case at all."""
    kinds = readable_kinds(p)
    if kinds:
        return kinds
    if force_bound(p) and not p.is_system:
        raise NotPermitted(
            "Not permitted: your identity names no force, so no case of a force is yours "
            "to read (ask your administrator to add your force).",
            code="no_force",
        )
    raise NotPermitted(f"Not permitted: {_role(p)} reads no case.", code="not_permitted")


def read_access(p: Principal, ref: CaseRef) -> Access:
    """How much of the case ``p`` may read: deny by default."""
    if p.is_system:
        return Access.NONE
    access = READ.get(p.role, {}).get(ref.kind, Access.NONE)
    if access is not Access.NONE and force_bound(p):
        mine = _norm(p.force)
        if mine is None or _norm(ref.force) != mine:
            return Access.NONE
    return access


def may_read(p: Principal, ref: CaseRef) -> bool:
    return read_access(p, ref) is not Access.NONE


def may_decode(p: Principal, case_id: str | None) -> bool:
    """Whether the codec server may decrypt a payload of ``case_id`` for ``p``: only with
    full access to the case, from its ID alone (a payload holds a case's whole data; a
    redacted view cannot be made of it). A payload of no case: only for those who read
    every kind in full."""
    if case_id is None:
        every = all(READ.get(p.role, {}).get(k) is Access.FULL for k in KIND_NAMES)
        return every and not p.is_system and not force_bound(p)
    return read_access(p, case_ref(case_id)) is Access.FULL


def decisions_for(p: Principal, ref: CaseRef) -> frozenset[str]:
    """The decision kinds ``p`` may make on the case (whether it awaits them or not)."""
    if not may_read(p, ref):
        return frozenset()
    return DECIDE.get(p.role, {}).get(ref.kind, frozenset())


def may_decide(p: Principal, ref: CaseRef, decision_kind: str) -> bool:
    return decision_kind in decisions_for(p, ref)


def may(p: Principal, capability: Capability) -> bool:
    return not p.is_system and p.role in CAPABILITIES[capability]


def _a(words: str) -> str:
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def _role(p: Principal) -> str:
    return "a system" if p.is_system else _a(p.role.replace("_", " "))


def require(p: Principal, capability: Capability) -> None:
    if not may(p, capability):
        allowed = " or ".join(sorted(_a(r.replace("_", " ")) for r in CAPABILITIES[capability]))
        raise NotPermitted(
            f"Not permitted: only {allowed} may {_WHAT[capability]} (you are {_role(p)}).",
            code="not_permitted",
        )


def require_read(p: Principal, ref: CaseRef) -> Access:
    """``p``'s access to the case, or ``NotPermitted`` saying why there is none."""
    access = read_access(p, ref)
    if access is not Access.NONE:
        return access
    if force_bound(p) and READ.get(p.role, {}).get(ref.kind, Access.NONE) is not Access.NONE:
        if _norm(p.force) is None:
            raise NotPermitted(
                "Not permitted: your identity names no force, so no case of a force is "
                "yours to read (ask your administrator to add your force).",
                code="no_force",
            )
        raise NotPermitted(
            f"Not permitted: case {ref.case_id} is not one of your force's "
            f"({_norm(p.force)}) cases.",
            code="other_force",
        )
    kinds = readable_kinds(p)
    readable = ", ".join(k.replace("_", " ") for k in kinds) or "no kind of case"
    raise NotPermitted(
        f"Not permitted: {_role(p)} may not read a {ref.kind} case (yours to read: {readable}).",
        code="not_permitted",
    )


def require_decide(p: Principal, ref: CaseRef, decision_kind: str) -> None:
    require_read(p, ref)
    if not may_decide(p, ref, decision_kind):
        mine = ", ".join(sorted(decisions_for(p, ref))) or "none"
        raise NotPermitted(
            f"Not permitted: {_role(p)} may not make the decision {decision_kind!r} on "
            f"{_a(ref.kind)} case (yours to make there: {mine}).",
            code="not_permitted",
        )


def needs_lookup(p: Principal, ref: CaseRef) -> bool:
    """Whether the policy's answer for ``p`` depends on a force the ID does not tell."""
    if ref.force is not None or not force_bound(p):
        return False
    return READ.get(p.role, {}).get(ref.kind, Access.NONE) is not Access.NONE


async def resolve_case(client: Client, case_id: str, p: Principal) -> CaseRef:
    """``case_ref`` of the case, with the force from its ``FnoForce`` search attribute
    when the ID does not tell it and the policy needs it for ``p`` (``needs_lookup``: a
    force-bound role reading encounters). No such case, or no force: the force stays
    None (refused)."""
    ref = case_ref(case_id)
    if not needs_lookup(p, ref):
        return ref
    try:
        described = await client.get_workflow_handle(case_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return ref
        raise
    return replace(ref, force=described.typed_search_attributes.get(search.FORCE))


# --- the police officer's view of an encounter --------------------------------------
WITHHELD = ("certificates", "criminal_casework")


class RedactedEncounter(EncounterState):
    """An encounter as a police officer sees it: no certificates (the countries'
    replies and their convictions), nothing of the Criminal Casework case; ``redacted``
    names what was withheld."""

    redacted: list[str] = Field(default_factory=lambda: list(WITHHELD))


def _entry(e: TimelineEntry) -> TimelineEntry:
    """A timeline entry without a certificate's content or the referral's offences (the
    entries that carry them name the document or the casework case in ``data``)."""
    if "document_id" in e.data:
        country = e.data.get("country")
        data = {"country": country} if country else {}
        return e.model_copy(update={"text": "Reply received (content withheld)", "data": data})
    if "casework_id" in e.data:
        return e.model_copy(
            update={"text": "Referred to Criminal Casework (details withheld)", "data": {}}
        )
    return e


def redact(state: EncounterState) -> RedactedEncounter:
    """The police officer's view of ``state``: see ``RedactedEncounter``."""
    data = state.model_dump()
    for check in data["checks"].values():
        check["certificate"] = None
    data |= {
        "casework_id": None,
        "casework_outcome": None,
        "referred_countries": [],
        "timeline": [_entry(e).model_dump() for e in state.timeline],
    }
    return RedactedEncounter.model_validate(data)
