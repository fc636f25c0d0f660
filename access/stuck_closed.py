"""The stuck listing's closed cases that cannot be read: the recently closed cases
(``ClosedProbe``, ``closed_candidates``) whose state query fails — their history the
current workers cannot replay (``why="cannot_replay"``) or another failure — asked
only on task queues a worker polls, a queue that does not answer left alone a while."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic as time_now

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.client import WorkflowExecution as ListedWorkflow
from temporalio.service import RPCError

from access.errors import CANNOT_REPLAY, QUERY_FAILED, is_replay_failure, safe_error
from access.kinds import kind_of
from access.listing import quoted
from access.stuck_rows import StuckCase
from models import search


@dataclass(frozen=True)
class ClosedProbe:
    """Which closed cases the stuck listing asks the state of, to find those the current
    workers cannot replay: each question is a replay of the case's whole history by a
    worker, so it is bounded — the ``limit`` most recently closed within ``within``, on
    task queues a worker polls, one queue's cases one after the other (a queue whose
    worker does not answer within ``timeout`` is left alone for five minutes)."""

    within: timedelta = timedelta(hours=24)
    limit: int = 20
    timeout: timedelta = timedelta(seconds=5)
    queues_at_once: int = 4


async def closed_candidates(
    client: Client, now: datetime, probe: ClosedProbe
) -> list[ListedWorkflow]:
    """The closed cases ``probe`` looks at: the most recently closed first."""
    query = (
        f"ExecutionStatus != 'Running' AND CloseTime >= "
        f"{quoted((now - probe.within).isoformat())} AND {search.CASE_KIND.name} IS NOT NULL"
    )
    found = [w async for w in client.list_workflows(query, limit=probe.limit)]
    far = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda w: w.close_time or far, reverse=True)
    return found[: probe.limit]


async def _polled(client: Client, task_queue: str, now: datetime) -> bool:
    """Whether a worker has polled the task queue in the last two minutes (an idle
    worker's long poll lasts about one): else asking would only wait for nobody."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        described = await client.workflow_service.describe_task_queue(request)
    except RPCError:
        return True  # cannot tell (a server without it): ask, within the timeout
    recent = now.astimezone(UTC) - timedelta(minutes=2)
    return any(p.last_access_time.ToDatetime(tzinfo=UTC) >= recent for p in described.pollers)


# Task queues where a closed case's state query found no worker answering, until when
# (``time.monotonic``): the next scans do not wait on them again.
_silent_queues: dict[str, float] = {}
SILENT_QUEUE_PAUSE = 300.0


async def unreadable_closed_cases(
    client: Client, now: datetime, probe: ClosedProbe
) -> list[StuckCase]:
    """The recently closed cases (``probe``) whose state query fails: a row each, with
    the reason code and the error's first line."""
    try:
        candidates = await closed_candidates(client, now, probe)
    except RPCError:
        return []  # a visibility store that cannot filter so: nothing to say
    by_queue: dict[str, list[ListedWorkflow]] = {}
    for w in candidates:
        by_queue.setdefault(w.task_queue, []).append(w)
    at_once = asyncio.Semaphore(max(probe.queues_at_once, 1))

    async def ask(queue: str, workflows: list[ListedWorkflow]) -> list[StuckCase]:
        rows: list[StuckCase] = []
        async with at_once:
            if _silent_queues.get(queue, 0.0) > time_now() or not await _polled(client, queue, now):
                return rows
            for w in workflows:
                handle = client.get_workflow_handle(w.id, run_id=w.run_id)
                try:  # by name, the answer undecoded into a model: only whether it comes
                    await handle.query(kind_of(w.id).state_query_name, rpc_timeout=probe.timeout)
                except WorkflowQueryFailedError as err:
                    rows.append(
                        StuckCase(
                            case_id=w.id,
                            stage=w.typed_search_attributes.get(search.STAGE),
                            why=CANNOT_REPLAY if is_replay_failure(err.message) else QUERY_FAILED,
                            last_error=safe_error(err.message),
                            closed_at=w.close_time,
                        )
                    )
                except RPCError:
                    # No worker answered on this queue (one stopped within the last
                    # minutes still looks polled): leave the queue alone for a while.
                    _silent_queues[queue] = time_now() + SILENT_QUEUE_PAUSE
                    break
                except Exception:  # e.g. a payload under a key this process lacks
                    continue  # not this case's trouble: nothing to list
        return rows

    found = await asyncio.gather(*(ask(q, ws) for q, ws in by_queue.items()))
    return [row for rows in found for row in rows]
