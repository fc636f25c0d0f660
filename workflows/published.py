"""A case's search attributes: what a supervisor finds it by (kind, stage, outcome,
who is awaited, the next deadline, the tasks' assignees, priority and team). None
carries personal data.

Three generations, each kept for the histories it wrote:

- cases started before intake set attributes upsert every attribute each time;
- cases started with their opening attributes (``search_attributes_at_start``, set by
  intake for encounters and, since issue 22, by the referral for Criminal Casework)
  upsert only what changed;
- Criminal Casework cases started with their attributes (issue 22) also upsert at
  most once per pass of the workflow's event loop: ``publish`` marks the attributes
  due and a background coroutine upserts them when every other coroutine has run (a
  decision that moves a case through several stages in one task writes one upsert,
  not six). ``flush_published`` writes a due upsert before the case ends or
  continues as new.

No I/O here: models come in through passed-through imports.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from workflows.changes import TASKS
from workflows.tasks import derive_tasks, task_attributes

with workflow.unsafe.imports_passed_through():
    from models import search
    from models.case import CaseView
    from models.casework_progress import Progress


class Published:
    """The search-attribute half of ``workflows.base.CaseWorkflow``."""

    s: CaseView
    kind: str
    _tasks_on: bool
    _publish_due: bool
    _publisher: asyncio.Task[None] | None

    @property
    def progress(self) -> Progress | None:
        """A casework case's progress (assignments, owner, team); None for other kinds."""
        return getattr(self.s, "progress", None)

    def extra_search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        return []

    def publish(self) -> None:
        """Bring the tasks and the search attributes up to date."""
        if not self._tasks_on:
            self._tasks_on = workflow.patched(TASKS)
        if self._tasks_on:
            self.s.tasks = derive_tasks(
                self.s.awaiting,
                stage=self.s.stage,
                deadlines=self.s.deadlines,
                previous=self.s.tasks,
                progress=self.progress,
                case_owner=getattr(self.s, "case_owner", None),
                now=workflow.now(),
            )
        if not self.upserts_once_per_pass():
            self._upsert()
            return
        self._publish_due = True
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish_when_due())

    def upserts_once_per_pass(self) -> bool:
        """Criminal Casework started with its attributes (issue 22; from its input, so
        the cases of before keep their histories)."""
        return self.kind == "casework" and self.s.search_attributes_at_start

    async def _publish_when_due(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._publish_due)
            self.flush_published()

    def flush_published(self) -> None:
        """Write a due upsert now (before the case ends or continues as new)."""
        if self._publish_due:
            self._publish_due = False
            self._upsert()

    def _upsert(self) -> None:
        next_deadline = min((d.due_at for d in self.s.deadlines), default=None)
        updates: list[SearchAttributeUpdate[Any]] = [
            search.CASE_KIND.value_set(self.kind),
            search.STAGE.value_set(self.s.stage.name),
            search.AWAITING_ROLE.value_set(self.s.awaiting_role),
        ]
        if self.s.outcome is not None:
            updates.append(search.OUTCOME.value_set(self.s.outcome.name))
        else:
            updates.append(search.OUTCOME.value_unset())
        updates.extend(self.extra_search_attributes())
        if self._tasks_on:
            team = self.progress.team if self.progress is not None else None
            updates.extend(task_attributes(self.s.tasks, team))
        if next_deadline is not None:
            updates.append(search.NEXT_DEADLINE.value_set(next_deadline))
        else:
            updates.append(search.NEXT_DEADLINE.value_unset())
        if self.s.search_attributes_at_start:
            # Only what changes (the SDK keeps info's attributes current after each
            # upsert): an upsert is a history event and a visibility write.
            updates = search.changed_only(updates, workflow.info().typed_search_attributes)
            if not updates:
                return
        workflow.upsert_search_attributes(updates)
