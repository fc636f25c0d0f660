"""FastAPI dependencies of the JSON API's routes: who calls and why (headers), and what
``create_app`` put in ``app.state`` (the Temporal client, the case store, intake).

Who calls, in which role and why, travels in headers: ``X-Actor``, ``X-Role`` and
``X-Reason`` (the purpose of a read, which is logged); a calling system (``X-Client``)
may have a configured default purpose instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from temporalio.client import Client

from access.intake import Intake
from identity.principal import Principal
from store.cases import CaseStore
from store.notifications import NotificationStore

ActorH = Annotated[str, Header(alias="X-Actor", min_length=1, max_length=120)]
RoleH = Annotated[str, Header(alias="X-Role", min_length=1, max_length=40)]
ReasonH = Annotated[str | None, Header(alias="X-Reason", max_length=2000)]
ClientH = Annotated[str | None, Header(alias="X-Client", max_length=120)]
ApiKeyH = Annotated[str | None, Header(alias="X-API-Key", max_length=200)]


def temporal(request: Request) -> Client:
    """The Temporal client, connected when the app started (its lifespan); a request
    before then (or to an app started without its lifespan) is told to come back."""
    client: Client | None = getattr(request.app.state, "temporal", None)
    if client is None:
        raise HTTPException(
            status_code=503,
            detail="not connected to Temporal yet: send the request again in a moment",
        )
    return client


def case_store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.store
    return store


def notification_store(store: Annotated[CaseStore, Depends(case_store)]) -> NotificationStore:
    """Notifications out, in the case store's database."""
    return NotificationStore(store.engine)


def intake_config(request: Request) -> Intake | None:
    """How custody events (and daily files) become cases; None: this service takes none."""
    intake: Intake | None = request.app.state.intake
    return intake


def reader(
    request: Request,
    actor: ActorH,
    role: RoleH,
    reason: ReasonH = None,
    caller: ClientH = None,
) -> Principal:
    """Who reads and why: ``X-Reason``, or the default purpose of the calling system."""
    # Stop-gap (h3) until h2's verified tokens: the declared identity, as before.
    defaults: dict[str, str] = request.app.state.default_reasons
    return Principal(
        subject=f"declared:{actor}",
        name=actor,
        role=role,
        reason=reason or (defaults.get(caller) if caller else None),
    )


def supervisor(actor: ActorH, role: RoleH) -> Principal:
    """Who reads the access log (no purpose asked: the role decides)."""
    return Principal(subject=f"declared:{actor}", name=actor, role=role)


TemporalD = Annotated[Client, Depends(temporal)]
StoreD = Annotated[CaseStore, Depends(case_store)]
NotificationsD = Annotated[NotificationStore, Depends(notification_store)]
IntakeD = Annotated[Intake | None, Depends(intake_config)]
ReaderD = Annotated[Principal, Depends(reader)]
SupervisorD = Annotated[Principal, Depends(supervisor)]
