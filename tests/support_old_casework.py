"""The casework as it ran before issue 20's per-certificate check (h3): the same
workflow type with the desk never started, so no ``workflow.patched`` marker is
written and every step takes the old path (everything new is gated on it). A case
started on it and finished on today's code shows that running cases keep their path
(tests/test_disclosure.py)."""

from __future__ import annotations

from temporalio import workflow

from workflows.casework import CriminalCaseworkWorkflow

with workflow.unsafe.imports_passed_through():
    from models.case import CASEWORK_WORKFLOW, CaseResult, CaseworkInput


@workflow.defn(name=CASEWORK_WORKFLOW)
class CaseworkBeforePerCertificate(CriminalCaseworkWorkflow):
    def start_certificate_desk(self) -> None:
        """The code before the patch: nothing here."""

    @workflow.run
    async def run(self, inp: CaseworkInput) -> CaseResult:
        return await super().run(inp)
