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

# issue 21 (casework as caseworkers work it) ----------------------------------------
# h4: a closed case reopened (``CaseworkInput.reopen``: wrongly closed, or the subject
# returned to the UK): recorded, outcome cleared, history kept, back to allocation; its
# steps' idempotency keys carry the reopening's number (``CaseworkCase.key``).
CASE_REOPENED = "issue-21-case-reopened"

# h2: Stage 1 served on the case owner's instruction (``serve_stage1``: means, the
# service time from the notice's service, 20 days only where a sentence leaves
# sufficient time), representations recorded in the window, the decision's needed
# fields required; after "deport" the deportation order, the appeal, ICE asked to detain
# with the evidence's reference, absconding back to wanted/missing, notifications with
# references; not pursued: the submission's reasons stored, lawful residence a finding.
# Recorded before (no marker at the Stage 1 notice): served at once, as before.
STAGE1_TO_REMOVAL = "issue-21-stage1-to-removal"

# h1: the located checklist as real steps (DOMAIN.md step 8, actions 1-7): ICD.5080 with
# its reference kept, the PNC print compared with the referral, the owner's offending
# history review (a further ACRO check), the investigating officer contacted and their
# answer recorded, pending prosecutions with actions 6 and 7; then detention (step 9)
# through the Detention Gatekeeper, or non-detained management recorded. Recorded
# before: the three claimed steps, and a detention decided by the case owner alone.
LOCATED_CHECKLIST = "issue-21-located-checklist"

# h3: tasks and allocation.
# Every awaited human decision is a task (state.tasks; FnoAssignee, FnoPriority,
# FnoTeam); claim/unclaim/reassign/bring forward/allocate are accepted while the case is
# open and acted on at once in the decide handler. Before: no tasks, those kinds refused.
TASKS = "issue-21-tasks"
# Located, the case waits for a CC manager's ``allocate_case`` (subject_located only
# reports the location; its case_owner is deprecated). Before: ``subject_located`` named
# the owner.
ALLOCATION = "issue-21-allocation"
# The decide update answers once the case has acted on the decision up to its next wait
# (or a stage change, or closing): DecisionResult.stage is the stage it led to. Before:
# answered on handover, with the stage before the decision took effect.
DECISION_SETTLED = "issue-21-decision-settled"

# issue 22 (replies pushed in) ------------------------------------------------------
# h2: a check's reply is pushed in (the ``acro_reply`` signal, with the certificate's
# claim check) and triaged in the workflow task that receives it; the check keeps one
# deadline timer at a time (reply due, chaser, ... no response, the late-reply window)
# and no poll loop. The marker is recorded at the request (``CountryCheck.pushed``):
# a check requested before it keeps polling ACRO until it ends.
REPLIES_PUSHED = "issue-22-replies-pushed"
