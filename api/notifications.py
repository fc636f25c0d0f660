"""HTTP routes of notifications out (included by ``api.app.create_app``).

    POST /daily-files                 a PNC daily activity file (a system credential with
                                      the ``daily-files`` scope; the body is the file): 201
                                      taken, 200 the same file again, 409 other content for
                                      a file already taken whole, 422 no valid header, 413
                                      too large
    GET  /daily-files?limit=          the files received, newest first
    GET  /notifications/summary       counts by EU state: sent, acknowledged, awaiting
                                      acknowledgement, escalated, overdue, sent late
    GET  /notifications?country=&status=&limit=   notifications (IDs, states, dates)
    GET  /notification-alerts?all=    gaps found (missing, incomplete, out-of-sequence
                                      files; convictions not notified)
    POST /notification-alerts/{id}/accept   a senior caseworker accepts an alert
                                      (``X-Reason`` says why; logged with the person)

Every route needs a proven caller (``api.deps``): the reads a person in a role that sees
notifications out, the accept a senior caseworker. No personal data in
any of these answers; a notification's case is read with ``GET /cases/{notification
id}`` and a stated purpose, like any case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from access.notifications import (
    MAX_FILE_BYTES,
    AlertRow,
    NotificationSummary,
    alerts,
    daily_files,
    ingest_daily_file,
    notification_counts,
    notifications,
)
from access.notifications import accept_alert as accept_open_alert
from access.policy import CAPABILITIES, Capability
from api.deps import IntakeD, NotificationsD, TemporalD, roles, system, utf8
from identity.principal import Principal
from models.daily_file import DailyFileError
from models.notification_policy import notification_policy
from runtime.front_door import acting_as
from store.notification_reports import NotificationStatus

# Who sees notifications out and who accepts an alert: access.policy's capabilities
# NOTIFICATIONS and ACCEPT_ALERTS (need-to-know), refused before the route runs.
READ_ROLES = tuple(sorted(CAPABILITIES[Capability.NOTIFICATIONS]))
ACCEPT_ROLES = tuple(sorted(CAPABILITIES[Capability.ACCEPT_ALERTS]))
Reader = Annotated[Principal, Depends(roles(*READ_ROLES))]
Acceptor = Annotated[Principal, Depends(roles(*ACCEPT_ROLES))]
Feed = Annotated[Principal, Depends(system("daily-files"))]
STATUS_CODE = {"ingested": 201, "completed": 201, "already_ingested": 200, "conflict": 409}

router = APIRouter(tags=["notifications out"])


@router.post(
    "/daily-files",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
    responses={
        200: {"description": "The same file was already taken: nothing new."},
        201: {"description": "Taken (see `complete` and `alerts`)."},
        401: {"description": "No credential, or an unknown one."},
        403: {"description": "Not a credential with the daily-files scope."},
        409: {"description": "Other content for a file already taken whole."},
        413: {"description": "Larger than the limit."},
        422: {"description": "No valid header: nothing was taken."},
    },
)
async def post_daily_file(
    sender: Feed,
    request: Request,
    intake: IntakeD,
    client: TemporalD,
    notes: NotificationsD,
) -> JSONResponse:
    """A PNC daily activity file (JSON Lines, header first): one notification per
    conviction and EU state of nationality, each file recorded once."""
    # ``intake`` (task queue, policy, secret) is None: this service takes no files.
    if intake is None:
        raise HTTPException(503, "intake is not configured on this service")
    raw = await request.body()
    if len(raw) > MAX_FILE_BYTES:
        return JSONResponse(
            {"detail": f"file too large: {len(raw)} bytes, the limit is {MAX_FILE_BYTES}"},
            status_code=413,
        )
    try:
        with acting_as(sender.subject, sender.name, sender.role):
            report = await ingest_daily_file(
                client,
                notes,
                raw,
                task_queue=intake.task_queue,
                policy=notification_policy(intake.policy),
                secret=intake.subject_key_secret,
                source=sender.name,
            )
    except DailyFileError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse(report.model_dump(mode="json"), status_code=STATUS_CODE[report.status])


@router.get("/daily-files")
async def get_daily_files(
    who: Reader,
    notes: NotificationsD,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The daily activity files received, newest first."""
    return [f.model_dump(mode="json") for f in daily_files(notes, who, limit)]


@router.get("/notifications/summary")
async def get_summary(who: Reader, notes: NotificationsD) -> NotificationSummary:
    """Notifications by EU state and in total, the files received, the open alerts."""
    return notification_counts(notes, who, datetime.now(UTC))


@router.get("/notifications")
async def get_notifications(
    who: Reader,
    notes: NotificationsD,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    status: NotificationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Notifications, newest first: IDs, states and dates (no personal data)."""
    rows = notifications(
        notes, who, now=datetime.now(UTC), country=country, status=status, limit=limit
    )
    return [r.model_dump(mode="json") for r in rows]


@router.get("/notification-alerts")
async def get_alerts(
    who: Reader,
    notes: NotificationsD,
    include_resolved: Annotated[bool, Query(alias="all")] = False,
) -> list[AlertRow]:
    """Open alerts (``all=true``: resolved ones too), oldest first."""
    return alerts(notes, who, include_resolved)


@router.post("/notification-alerts/{alert_id}/accept")
async def accept_alert(
    who: Acceptor,
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],  # the database's integer range
    reason: Annotated[str, Header(alias="X-Reason", min_length=3, max_length=2000)],
    notes: NotificationsD,
) -> dict[str, str]:
    """A senior caseworker accepts an alert: not raised again."""
    try:
        accept_open_alert(notes, who, alert_id, utf8(reason) or reason, datetime.now(UTC))
    except KeyError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "accepted"}
