"""Every change of workflow logic that cases already running must not see: the
``workflow.patched`` IDs, one per change. A history recorded before a change has no
marker for it and replays on the old path; a case that reaches the change on new code
takes the new path and records the marker (docs/running.md, *Changing workflow code*).

An ID, once released, is never renamed or reused.
"""

from __future__ import annotations

# issue 20 (casework as it really starts) --------------------------------------------
# h2: a reply with an offence the table does not know (or marks borderline) waits for an
# ACRO officer's triage. Cases started on the claim-check code closed such a reply as
# not serious at once; their histories replay on that path.
ACRO_TRIAGE = "issue-20-acro-triage"
# h4: ICE tasking ends on ICE's answer ("unable_to_locate": liable to deport at once) or,
# the tasking period over with no answer, a caseworker's ``ice_tasking_review`` decision
# (old path: liable to deport on the fixed tasking timer).
ICE_TASKING_ANSWER = "casework-ice-tasking-answer"
# h4: "Located – to be allocated to a CC case owner" has a deadline (allocation within
# ``allocation_working_days``); when it passes the case records it and escalates.
LOCATED_OWNER_DEADLINE = "casework-located-owner-deadline"
# h4: "Decision to deport – awaiting enforcement" has a deadline (enforcement review
# after ``enforcement_review_days``); when it passes the case records it and escalates.
ENFORCEMENT_DEADLINE = "casework-enforcement-deadline"
# The decisions of steps 7-10 that had no deadline (exclusion, detention, deportation,
# the Director's approval, the referral for administrative removal) get one, told when
# it passes (``Located.decide_in_time``); recorded before: offered with none.
DECISION_DEADLINES = "casework-decision-deadlines"
# h3: each certificate's disclosability decided on its own, late ones too (a background
# desk in the casework run); the immigration re-request a wait with a due date, chasers
# and a caseworker decision; the CID record updated per further disclosable certificate.
PER_CERTIFICATE_DISCLOSABILITY = "issue-20-per-certificate-disclosability"
