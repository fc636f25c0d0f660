"""Every stage, with what the case waits for there, its deadline and who is told.

"Every wait in the process has a deadline and someone who is told when it passes; no
case may sit where nobody will look" (DOMAIN.md). This table says it for each stage,
in the code's own terms: the decision kinds a stage offers (their roles come from
``models.decisions.ROLES_FOR``), the policy fields that set its deadline (their
defaults from ``models.policy.Policy`` / ``models.notification_policy``), and what
happens when the deadline passes. A stage without a deadline is either *automatic*
(a step in another system, retried until done, the case listed as stuck when it
keeps failing) or *dormant by design*, with the reason.

``python -m models.stage_waits`` prints the table as Markdown; docs/casework.md holds
it (``tests/test_stage_waits.py`` keeps the two the same, and checks the table against
the code: every stage listed, every decision kind and policy field real).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.case import Stage
from models.decisions import ROLES_FOR
from models.notification_policy import NotificationPolicy

AUTOMATIC = "automatic"
DORMANT = "dormant by design"
WAITING = "waits"
CLOSED = "closed"


@dataclass(frozen=True)
class Wait:
    kind: str  # WAITING, AUTOMATIC, DORMANT or CLOSED
    deadline: str = ""  # what the deadline is
    policy: tuple[str, ...] = ()  # policy fields that set it
    decisions: tuple[str, ...] = ()  # decision kinds offered at the stage
    told: str = ""  # who is told, and how, when the deadline passes
    why: str = ""  # for a dormant stage: why it has no deadline

    @property
    def roles(self) -> list[str]:
        return sorted({r for k in self.decisions for r in ROLES_FOR[k]})


_RETRIED = (
    "steps in other systems, retried with backoff until done; a step failing for long "
    "lists the case as stuck (`fno cases --stuck`)"
)

WAITS: dict[Stage, Wait] = {
    Stage.RECEIVED: Wait(AUTOMATIC, told=_RETRIED),
    Stage.AWAITING_IDENTITY_DATA: Wait(
        WAITING,
        "the officer's answer",
        ("missing_data_working_days",),
        ("identity_data_supplied",),
        "the check closes as insufficient data",
    ),
    Stage.AWAITING_COUNTRY_REPLY: Wait(
        WAITING,
        "the country's reply (EU: working days; others: days), then chasers",
        (
            "eu_reply_working_days",
            "eu_chaser_working_days",
            "eu_max_chasers",
            "non_eu_first_chaser_days",
            "non_eu_chaser_interval_days",
            "non_eu_max_chasers",
        ),
        (),
        "a chaser to the country; after the last, closed as no response (a late reply "
        "is still acted on)",
    ),
    Stage.AWAITING_LATE_REPLY: Wait(
        WAITING,
        "a late reply, still acted on",
        ("late_reply_window_days",),
        (),
        "the check closes for good as no response",
    ),
    Stage.REFERRED_TO_CRIMINAL_CASEWORK: Wait(
        DORMANT,
        why="the encounter waits for its Criminal Casework case, whose own stages have "
        "their deadlines; it closes with that case's outcome",
    ),
    Stage.DISCLOSABILITY_CHECK: Wait(AUTOMATIC, told=_RETRIED),
    Stage.AWAITING_DISCLOSABLE_CERTIFICATE: Wait(
        WAITING,
        "the certificate asked for immigration purposes (EU: working days; others: "
        "days), then chasers",
        (
            "eu_reply_working_days",
            "eu_chaser_working_days",
            "eu_max_chasers",
            "non_eu_first_chaser_days",
            "non_eu_chaser_interval_days",
            "non_eu_max_chasers",
        ),
        (),
        "a caseworker decides (`IMMIGRATION_CERTIFICATE_DECISION`)",
    ),
    Stage.CASE_CREATION: Wait(AUTOMATIC, told=_RETRIED),
    Stage.NBTC_CHECK: Wait(AUTOMATIC, told=_RETRIED),
    Stage.EXCLUSION_CONSULTATION: Wait(
        WAITING,
        "a senior caseworker's view on exclusion",
        ("exclusion_consultation_working_days",),
        ("exclusion_consultation",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.ICE_TASKING: Wait(
        WAITING,
        "ICE's answer (asked every few days) until the tasking period ends",
        ("ice_tasking_days", "ice_status_poll_days"),
        ("subject_located",),
        "a caseworker reviews the tasking (`ICE_TASKING_REVIEW`); ICE's 'unable to "
        "locate' makes the subject liable to deport at once",
    ),
    Stage.LIABLE_TO_DEPORT_WANTED: Wait(
        DORMANT,
        why="closed until the subject is located, possibly for years: the wanted/missing "
        "marker, ICE (asked again at each review) and a new custody event find them",
        policy=("dormant_review_days",),
        decisions=("subject_located",),
    ),
    Stage.LOCATED_AWAITING_OWNER: Wait(
        WAITING,
        "allocation to a CC case owner by a CC manager",
        ("allocation_working_days",),
        ("allocate_case",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.LOCATED_ACTIONS: Wait(AUTOMATIC, told=_RETRIED),
    Stage.DETENTION_DECISION: Wait(
        WAITING,
        "the detention decision; located by a custody event: before the police release "
        "the subject (hours)",
        ("detention_decision_working_days", "custody_detention_hours"),
        ("detention",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.STAGE1_RESPONSE_WINDOW: Wait(
        WAITING,
        "the subject's response window",
        ("stage1_days_serving_sentence", "stage1_days_other"),
        ("representations",),
        "the case moves to the deportation decision",
    ),
    Stage.DEPORTATION_DECISION: Wait(
        WAITING,
        "the decision to deport or not",
        ("deportation_decision_working_days",),
        ("deportation",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.AWAITING_DIRECTOR: Wait(
        WAITING,
        "the CC Director's approval of 'not pursued'",
        ("director_decision_working_days",),
        ("director_approval",),
        "recorded overdue; listed as overdue",
    ),
    Stage.ADMIN_REMOVAL_CONSIDERATION: Wait(
        WAITING,
        "whether to refer to Removals Casework",
        ("admin_removal_working_days",),
        ("admin_removal_referral",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.AWAITING_ENFORCEMENT: Wait(
        WAITING,
        "the deportation enforced (ICE)",
        ("enforcement_review_days",),
        ("deportation_enforced", "absconded", "subject_detained"),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.NOTIFICATION_TO_SEND: Wait(
        WAITING,
        "the statutory deadline: the end of the 28 days beginning with the day the "
        "conviction was recorded (UK date)",
        ("notify_within_days",),
        (),
        "built and sent at once, retried until sent; the reconciliation reports it overdue",
    ),
    Stage.NOTIFICATION_AWAITING_ACK: Wait(
        WAITING,
        "the home state's acknowledgement, then chasers",
        ("ack_due_days", "ack_chaser_interval_days", "ack_max_chasers", "escalate_after_days"),
        (),
        "chasers, then escalated to a senior caseworker a week before the deadline",
    ),
    Stage.NOTIFICATION_ESCALATED: Wait(
        WAITING,
        "a senior caseworker's decision, escalated again while it stays open",
        ("re_escalate_days",),
        ("notification_escalation",),
        "escalated again",
    ),
    Stage.CLOSED: Wait(CLOSED),
    Stage.AWAITING_ACRO_TRIAGE: Wait(
        WAITING,
        "an ACRO officer's triage: serious or not",
        ("acro_triage_working_days",),
        ("triage",),
        "recorded overdue; listed as overdue, first in the ACRO officers' inbox",
    ),
    Stage.AWAITING_FURTHER_DETAILS: Wait(
        WAITING,
        "the country's further details of the offences, then a chaser",
        ("further_details_working_days", "further_details_max_chasers"),
        (),
        "the referral goes on with what the reply states (recorded)",
    ),
    Stage.ICE_TASKING_REVIEW: Wait(
        WAITING,
        "a caseworker's review: liable to deport, or extend the tasking",
        ("ice_review_working_days",),
        ("ice_tasking_review", "subject_located"),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.IMMIGRATION_CERTIFICATE_DECISION: Wait(
        WAITING,
        "a caseworker's decision on the failed re-request: ask again, or close",
        ("immigration_decision_working_days",),
        ("immigration_certificate_outcome",),
        "recorded overdue; listed as overdue",
    ),
    Stage.NO_DISCLOSABLE_CERTIFICATE: Wait(
        DORMANT,
        why="no certificate may be used and a caseworker closed the re-request: only a "
        "further referral from ACRO (a certificate that joins) moves the case on",
    ),
    # issue 21
    Stage.OFFENDING_HISTORY_REVIEW: Wait(
        WAITING,
        "the case owner's review of the PNC print against the referral",
        ("located_action_working_days",),
        ("offending_history_review",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.INVESTIGATING_OFFICER: Wait(
        WAITING,
        "the investigating officer's answer, recorded by the case owner",
        ("located_action_working_days",),
        ("investigating_officer_answer",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.PENDING_PROSECUTION: Wait(
        WAITING,
        "pending prosecutions clarified with the police",
        ("located_action_working_days",),
        ("pending_prosecution",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.PROSECUTION_CONSIDERATION: Wait(
        WAITING,
        "whether to proceed with a deportation decision and order anyway",
        ("located_action_working_days",),
        ("prosecution_consideration",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.AWAITING_PROSECUTION: Wait(
        WAITING,
        "the outcome of the UK prosecution",
        ("prosecution_review_days",),
        ("prosecution_outcome",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.DETENTION_GATEKEEPER: Wait(
        WAITING,
        "the Detention Gatekeeper's answer to the proposal to detain",
        ("gatekeeper_working_days",),
        ("detention_gatekeeper",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.STAGE1_TO_SERVE: Wait(
        WAITING,
        "the case owner's instruction to serve the Stage 1 notice",
        ("stage1_instruction_working_days",),
        ("serve_stage1",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.DEPORTATION_ORDER_TO_SERVE: Wait(
        WAITING,
        "the instruction to serve the deportation order",
        ("deportation_order_working_days",),
        ("serve_deportation_order",),
        "recorded overdue, escalated; listed as overdue",
    ),
    Stage.APPEAL_WINDOW: Wait(
        WAITING,
        "an appeal lodged within the appeal window",
        ("appeal_window_days",),
        ("appeal_lodged",),
        "no appeal lodged: removal goes ahead",
    ),
    Stage.AWAITING_APPEAL: Wait(
        WAITING,
        "the appeal's determination",
        ("appeal_review_days",),
        ("appeal_determined",),
        "recorded overdue, escalated; listed as overdue",
    ),
}


def _policy_default(name: str) -> str:
    value = NotificationPolicy.model_fields[name].default
    return f"`{name}` ({value:g})" if isinstance(value, int | float) else f"`{name}`"


def markdown() -> str:
    """The table for docs/casework.md."""
    lines = [
        "| stage | what it waits for | deadline (policy, default) | awaiting role "
        "| when it passes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for stage, w in WAITS.items():
        if w.kind == CLOSED:
            waits, told = "nothing: the case is closed", ""
        elif w.kind == AUTOMATIC:
            waits, told = "nothing: automatic", w.told
        elif w.kind == DORMANT:
            waits, told = f"{DORMANT}: {w.why}", ""
        else:
            waits = w.deadline or ", ".join(w.decisions)
            told = w.told
        decisions = ", ".join(f"`{d}`" for d in w.decisions)
        what = f"{waits}{' — ' + decisions if decisions else ''}"
        policy = ", ".join(_policy_default(p) for p in w.policy)
        lines.append(
            f"| `{stage.name}` {stage.value} | {what} | {policy} | {', '.join(w.roles)} | {told} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
