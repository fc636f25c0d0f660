"""What every process's activities share, and the one activity of the case core.

- ``PERMANENT``, ``refusals_surface``: a gateway's permanent refusal (or data no
  retry will mend) becomes a non-retryable ``ApplicationError`` of that type, which
  the workflow core (``workflows.base.CaseWorkflow.call``) records on the case.
- ``activity_methods``: the bound ``@activity.defn`` methods of an object, for a worker.
- ``CoreActivities``: recording a person's decision in the access log, the one
  activity every case workflow runs (``CaseWorkflow.next_decision``). A worker of any
  process registers it once: the case process's ``CaseActivities`` includes it, a
  worker of notifications out alone registers ``CoreActivities(store).all()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.gateways import PermanentGatewayError
from models.reference import UnknownOffenceError
from models.steps import DecisionLogged
from store.cases import CaseStore

F = TypeVar("F", bound=Callable[..., Any])

PERMANENT = "PermanentGatewayError"
CASE_STORE_ERROR = "CaseStoreError"  # retried: the case store failed, not the step


def store_error(err: SQLAlchemyError) -> str:
    """The failure's kinds, no statement and no values: ``OperationalError
    (psycopg.errors.ReadOnlySqlTransaction)``."""
    driver = getattr(err, "orig", None)
    if driver is None:
        return type(err).__name__
    return f"{type(err).__name__} ({type(driver).__module__}.{type(driver).__name__})"


def store_error_type(err: SQLAlchemyError) -> str:
    """``CaseStoreError:<driver error class>``: the failure's type, in the logs too."""
    driver = getattr(err, "orig", None)
    kind = type(driver if driver is not None else err)
    return f"{CASE_STORE_ERROR}:{kind.__module__}.{kind.__name__}"


def store_failure(err: SQLAlchemyError) -> ApplicationError:
    """A case-store failure as Temporal keeps it: retryable, said by its types only."""
    return ApplicationError(
        f"case store unavailable: {store_error(err)}", type=store_error_type(err)
    )


class StoreErrorsSurface(Interceptor):
    """The worker's last guard over every activity: a case-store error that no step
    translated (``refusals_surface``) still reaches Temporal as ``store_failure`` — never
    SQLAlchemy's own message, whose statement and parameters hold personal data and
    outgrew what Temporal keeps as a last failure ("Failure exceeds size limit.")."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _StoreErrorsInbound(next)


class _StoreErrorsInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except SQLAlchemyError as err:
            raise store_failure(err) from None


def refusals_surface(fn: F) -> F:
    """Turn a gateway's permanent refusal into a non-retryable failure."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PermanentGatewayError, UnknownOffenceError, KeyError) as err:
            # A refusal, or data no retry will mend (an offence code not in the table,
            # a record that is not there): the case shows it and waits for a person.
            raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err
        except SQLAlchemyError as err:
            # The case store failed (down, read-only, …): retried. Said by the error's
            # types only: SQLAlchemy's message holds the statement and its parameters
            # (personal data), and with both tracebacks it outgrew what Temporal keeps
            # as an activity's last failure, so the stuck listing showed nothing useful.
            raise store_failure(err) from None

    return wrapper  # type: ignore[return-value]


def as_of(moment: datetime | None) -> datetime:
    """The step's workflow time; a caller outside a workflow may leave it to now."""
    return moment or datetime.now(UTC)


def activity_methods(obj: object) -> list[Callable[..., Any]]:
    """The bound ``@activity.defn`` methods of ``obj``, for a worker."""
    return [
        getattr(obj, name)
        for name in dir(obj)
        if hasattr(getattr(obj, name), "__temporal_activity_definition")
    ]


class CoreActivities:
    """The activity of the case core, over the case store (which holds the access log)."""

    def __init__(self, store: CaseStore) -> None:
        self.store = store

    def all(self) -> list[Callable[..., Any]]:
        return activity_methods(self)

    @activity.defn(name="record_decision")
    @refusals_surface
    def record_decision(self, req: DecisionLogged) -> None:
        """A person's decision on a case goes into the access log once."""
        self.store.log(
            actor=req.actor,
            role=req.role,
            action="decision",
            case_id=req.case_id,
            justification=f"{req.kind}: {req.reason}",
            act_key=f"decision:{req.idempotency_key}",
            subject=req.actor_id,
        )
