"""The casework as it ran before issue 21's Stage 1 on instruction (h2): the same
workflow type serving the Stage 1 notice at once, with no ``workflow.patched`` marker
written, so everything after it takes the old path. A case that reaches the response
window on it and finishes on today's code shows that a running case keeps its path
(tests/test_stage1_to_removal.py)."""

from __future__ import annotations

from temporalio import workflow

from workflows.casework import CriminalCaseworkWorkflow

with workflow.unsafe.imports_passed_through():
    from models.case import CASEWORK_WORKFLOW, CaseResult, CaseworkInput


@workflow.defn(name=CASEWORK_WORKFLOW)
class CaseworkBeforeStage1OnInstruction(CriminalCaseworkWorkflow):
    async def stage1_notice(self) -> None:
        """The code before the patch: served at once."""
        await self.stage1_served_at_once()

    @workflow.run
    async def run(self, inp: CaseworkInput) -> CaseResult:
        return await super().run(inp)
