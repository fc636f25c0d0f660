"""The located checklist's steps in other systems (issue 21, DOMAIN.md step 8): the
wanted/missing marker removed (ICD.5080) with the PNC Bureau's reference, the PNC print
compared with the referral's certificates (read from the case store here; the workflow
gets counts only), a further ACRO check, and the investigating officer told of CC's
interest — each returning the reference the other system gave.

Part of ``CaseActivities`` (``activities.steps``); the rules there hold here.
"""

from __future__ import annotations

from temporalio import activity

from activities.certificates import offences_in
from activities.core import CoreActivities, as_of, refusals_surface
from activities.gateways import Gateways
from models.located_checklist import PncPrintComparison, PncPrintQuery
from models.steps import Reference, SubjectStep


class LocatedChecklistActivities(CoreActivities):
    """The checklist's steps over the gateways (``g``, set by ``CaseActivities``)."""

    g: Gateways

    @activity.defn(name="remove_wanted_marker_icd5080")
    @refusals_surface
    def remove_wanted_marker_icd5080(self, req: SubjectStep) -> Reference:
        """ICD.5080: the marker comes off; the PNC Bureau's reference."""
        return Reference(ref=self.g.pnc.remove_wanted_marker(req.idempotency_key, req.subject_key))

    @activity.defn(name="compare_pnc_print")
    @refusals_surface
    def compare_pnc_print(self, q: PncPrintQuery) -> PncPrintComparison:
        """How many of the referral's offences the PNC print lacks (counts, no codes)."""
        referred = set(q.offences) | set(
            offences_in(
                self.store,
                q.document_ids,
                case_id=q.case_id,
                why="located checklist: the full offending history on the PNC print",
                step=q.idempotency_key,
            )
        )
        on_print = set(self.g.pnc.pnc_print(q.idempotency_key, q.subject_key))
        return PncPrintComparison(referred=len(referred), missing=len(referred - on_print))

    @activity.defn(name="request_further_acro_check")
    @refusals_surface
    def request_further_acro_check(self, req: SubjectStep) -> Reference:
        ref = self.g.acro.request_further_check(
            req.idempotency_key, req.subject_key, as_of(req.as_of)
        )
        return Reference(ref=ref)

    @activity.defn(name="tell_investigating_officer")
    @refusals_surface
    def tell_investigating_officer(self, req: SubjectStep) -> Reference:
        ref = self.g.police.tell_investigating_officer(
            req.idempotency_key, req.case_id, req.subject_key
        )
        return Reference(ref=ref)
