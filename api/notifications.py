"""HTTP routes of notifications out (included by ``api.app.create_app``).

    POST /daily-files                 a PNC daily activity file (X-API-Key; the body is the
                                      file): 201 taken, 200 the same file again, 409 other
                                      content for a file already taken whole, 422 no valid
                                      header, 413 too large
    GET  /daily-files?limit=          the files received, newest first
    GET  /notifications/summary       counts by EU state: sent, acknowledged, awaiting
                                      acknowledgement, escalated, overdue, sent late
    GET  /notifications?country=&status=&limit=   notifications (IDs, states, dates)
    GET  /notification-alerts?all=    gaps found (missing, incomplete, out-of-sequence
                                      files; convictions not notified)
    POST /notification-alerts/{id}/accept   a senior caseworker accepts an alert
                                      (X-Actor, X-Role, X-Reason; logged)

No personal data in any of these answers; a notification's case is read with
``GET /cases/{notification id}`` and a stated purpose, like any case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from access.notifications import (
    MAX_FILE_BYTES,
    AlertRow,
    NotificationSummary,
    ingest_daily_file,
    notification_summary,
)
from api.deps import ApiKeyH, IntakeD, NotificationsD, TemporalD
from models.daily_file import DailyFileError
from models.notification_policy import notification_policy
from store.notification_reports import NotificationStatus

ACCEPT_ROLES = ("senior_caseworker", "director")
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
        401: {"description": "Unknown or missing API key."},
        409: {"description": "Other content for a file already taken whole."},
        413: {"description": "Larger than the limit."},
        422: {"description": "No valid header: nothing was taken."},
    },
)
async def post_daily_file(
    request: Request,
    intake: IntakeD,
    client: TemporalD,
    notes: NotificationsD,
    api_key: ApiKeyH = None,
) -> JSONResponse:
    """A PNC daily activity file (JSON Lines, header first): one notification per
    conviction and EU state of nationality, each file recorded once."""
    # ``intake`` (task queue, policy, secret, API keys) is None: this service takes no files.
    if intake is None:
        raise HTTPException(503, "intake is not configured on this service")
    sender = intake.api_keys.get(api_key or "")
    if sender is None:
        return JSONResponse(
            {"detail": "Unknown or missing API key: send the X-API-Key issued to you."},
            status_code=401,
        )
    raw = await request.body()
    if len(raw) > MAX_FILE_BYTES:
        return JSONResponse(
            {"detail": f"file too large: {len(raw)} bytes, the limit is {MAX_FILE_BYTES}"},
            status_code=413,
        )
    try:
        report = await ingest_daily_file(
            client,
            notes,
            raw,
            task_queue=intake.task_queue,
            policy=notification_policy(intake.policy),
            secret=intake.subject_key_secret,
            source=sender,
        )
    except DailyFileError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return JSONResponse(report.model_dump(mode="json"), status_code=STATUS_CODE[report.status])


@router.get("/daily-files")
async def get_daily_files(
    notes: NotificationsD,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The daily activity files received, newest first."""
    return [f.model_dump(mode="json") for f in notes.files(limit)]


@router.get("/notifications/summary")
async def get_summary(notes: NotificationsD) -> NotificationSummary:
    """Notifications by EU state and in total, the files received, the open alerts."""
    return notification_summary(notes, datetime.now(UTC))  # stop-gap (h3): h2 passes the caller


@router.get("/notifications")
async def get_notifications(
    notes: NotificationsD,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    status: NotificationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Notifications, newest first: IDs, states and dates (no personal data)."""
    rows = notes.notifications(now=datetime.now(UTC), country=country, status=status, limit=limit)
    return [r.model_dump(mode="json") for r in rows]


@router.get("/notification-alerts")
async def get_alerts(
    notes: NotificationsD,
    include_resolved: Annotated[bool, Query(alias="all")] = False,
) -> list[AlertRow]:
    """Open alerts (``all=true``: resolved ones too), oldest first."""
    return [AlertRow.of(a) for a in notes.alerts(include_resolved=include_resolved)]


@router.post("/notification-alerts/{alert_id}/accept")
async def accept_alert(
    alert_id: int,
    actor: Annotated[str, Header(alias="X-Actor", min_length=1, max_length=120)],
    role: Annotated[str, Header(alias="X-Role", min_length=1, max_length=40)],
    reason: Annotated[str, Header(alias="X-Reason", min_length=3, max_length=2000)],
    notes: NotificationsD,
) -> dict[str, str]:
    """A senior caseworker (or the Director) accepts an alert: not raised again."""
    if role not in ACCEPT_ROLES:
        raise HTTPException(403, f"only a {' or '.join(ACCEPT_ROLES)} may accept an alert")
    try:
        notes.accept_alert(alert_id, actor=actor, role=role, reason=reason, at=datetime.now(UTC))
    except KeyError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"status": "accepted"}
