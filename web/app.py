"""The caseworkers' and supervisors' web app: server-rendered pages, mounted by the HTTP
API at ``/web`` (``api.app.create_app(..., web=...)``).

    GET  /web/                       home: the inbox (the dashboard for supervisors)
    GET  /web/login, POST /web/login sign in (users file, Argon2 password hashes)
    POST /web/logout                 sign out
    GET  /web/inbox                  cases awaiting a decision from my role, overdue first
    GET  /web/cases                  search and filter, paginated
    GET  /web/cases/{id}             the case: stage, subject, deadlines, timeline, the
                                     access log (supervisors), the Temporal Web UI link,
                                     and the decisions it accepts now from my role
    POST /web/cases/{id}/decisions   a decision (CSRF token, a stated reason)
    GET  /web/dashboard              supervisors: counts, weeks, reply times, the funnel
    GET  /web/account                who I am, my role, my default purpose, my session

Every operation goes through ``access.service``: reading a case is a consultation
logged with its purpose (the user's or their role's default purpose from the users
file, or one they state), decisions are the ``decide`` update and its refusals come
back with the workflow's reason, the access log is ``audit`` (supervisors and the
Director only). Templates autoescape everything they show; every form carries the
session's CSRF token; a supervisor gets no decision form and a decision POST from a
role that may not make it is refused here, before it reaches the case.

Logs carry no personal data: case IDs, decision kinds and roles only, and the
usernames of staff signing in (never a name typed that matches no user); query
strings of ``/web`` paths are removed from the HTTP access log (``RedactWebQueries``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError

from access.decisions import send_decision
from access.errors import (
    CANNOT_REPLAY,
    QUERY_FAILED,
    AccessRefused,
    CaseNotFound,
    CaseUnreadable,
    DecisionRefused,
)
from access.kinds import KIND_NAMES, kind_of_state
from access.listing import CaseFilter, list_cases, visibility_query
from access.reading import AUDIT_ROLES, Reader, audit, read_case
from access.stuck import ClosedProbe, stuck_cases
from access.viewers import Authenticator, Viewer
from models.case import CaseView, CaseworkState, EncounterState, Outcome, Stage
from models.decision_forms import DecisionForm, decision_form, decisions_accepted
from models.decisions import DecisionRequest
from models.reference import countries
from runtime.logs import get_logger
from store.cases import CaseStore
from store.notifications import NotificationStore
from web import charts, labels
from web.auth import Directory, Throttle, User
from web.reports import dashboard, outcome_label, stage_label
from web.sessions import Sessions, csrf_ok

HERE = Path(__file__).resolve().parent
DASHBOARD_ROLES = ("supervisor", "director")
PAGE_SIZES = (10, 25, 50, 100)
INBOX_LIMIT = 500
CASE_KINDS = KIND_NAMES
log = get_logger("fno.web")


@dataclass
class WebConfig:
    directory: Directory
    sessions: Sessions
    namespace: str = "default"
    temporal_ui: str | None = None  # e.g. http://localhost:8233: case pages link to it
    tz: tzinfo = UTC
    day_seconds: float = 86400.0  # the policy's day: reply times are in these
    page_size: int = 25
    stuck_failing: timedelta = timedelta(minutes=30)
    stuck_overdue: timedelta = timedelta(minutes=60)
    throttle: Throttle = field(default_factory=Throttle)


def display_zone(name: str | None) -> tzinfo:
    """``FNO_WEB_TIMEZONE`` (default Europe/London), or UTC where the zone is unknown."""
    try:
        return ZoneInfo(name or "Europe/London")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def once(connect: Callable[[], Awaitable[Client]]) -> Callable[[], Awaitable[Client]]:
    """``connect`` called at most once; every caller gets the same client (the API and
    the web app share one)."""
    made: list[Client] = []
    lock = asyncio.Lock()

    async def shared() -> Client:
        async with lock:
            if not made:
                made.append(await connect())
            return made[0]

    return shared


# --- presentation helpers ------------------------------------------------------------
def time_left(due: datetime | None, now: datetime) -> str:
    """``3 d 4 h left`` or ``overdue by 2 h 5 min``."""
    if due is None:
        return ""
    delta = due - now
    span = abs(delta.total_seconds())
    days, rest = divmod(int(span), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = f"{seconds} s"
    return f"{text} left" if delta.total_seconds() >= 0 else f"overdue by {text}"


def country_name(code: str | None) -> str:
    if not code:
        return ""
    found = countries().get(code)
    return f"{found.name} ({code})" if found else code


class RedactWebQueries(logging.Filter):
    """Remove query strings of ``/web`` paths from HTTP access log lines: a search
    or a stated purpose may hold words nobody should find in a log."""

    _QUERY = re.compile(r"(/web/[^\s?\"]*)\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._QUERY.sub(r"\1?<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._QUERY.sub(r"\1?<redacted>", record.msg)
        return True


def install_log_redaction() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactWebQueries())


class SecurityHeaders:
    """Every answer: no framing, no sniffing, no inline script or style, not cached
    (pages hold personal data)."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
            b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope.get("path", "")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + self.HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


@dataclass
class Visit:
    """One request: its session (new and anonymous if it had none) and the user."""

    request: Request
    session: dict[str, Any]
    user: User | None
    username: str | None

    @property
    def base(self) -> str:
        return str(self.request.scope.get("root_path", "")).rstrip("/")


def create_web_app(
    connect: Callable[[], Awaitable[Client]], store: CaseStore, config: WebConfig
) -> FastAPI:
    """The web app (mount it at ``/web``). ``connect`` gives the Temporal client (the
    app connects on first use: a mounted app gets no lifespan of its own)."""
    client_of = once(connect)
    sessions = config.sessions
    directory = config.directory
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(at: datetime | date | None, fmt: str = "%d %b %Y %H:%M") -> str:
        if at is None:
            return ""
        if isinstance(at, datetime):
            aware = at if at.tzinfo else at.replace(tzinfo=UTC)  # the store keeps UTC
            return aware.astimezone(config.tz).strftime(fmt)
        return at.strftime("%d %b %Y")

    env.filters.update(
        when=when,
        pathq=lambda v: quote(str(v), safe=""),
        stage=stage_label,
        outcome=outcome_label,
        role=labels.role,
        decision=labels.decision,
        field=labels.field,
        country=country_name,
        action=lambda a: labels.ACCESS_ACTIONS.get(a, a),
    )
    env.globals.update(choice=labels.choice, time_left=time_left)

    app = FastAPI(title="FNO casework web", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # --- sessions and rendering --------------------------------------------------
    def visit(request: Request) -> Visit:
        session = sessions.read(request) or sessions.new()
        username = session.get("user")
        user = directory.user(username) if isinstance(username, str) else None
        if user is None and username:
            session = sessions.new()  # the user was removed: the session ends
            username = None
        return Visit(request, session, user, username if user else None)

    def render(v: Visit, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        flash = v.session.pop("flash", None)
        ctx.setdefault("active", template.removesuffix(".html"))
        ctx.setdefault("now", datetime.now(UTC))
        html = env.get_template(template).render(
            base=v.base,
            user=v.user,
            username=v.username,
            csrf=v.session["csrf"],
            can_dashboard=bool(v.user and v.user.role in DASHBOARD_ROLES),
            flash=flash,
            tz_name=str(config.tz),
            **ctx,
        )
        response = HTMLResponse(html, status_code=status)
        sessions.write(response, v.session)  # the idle timeout slides with each page
        return response

    def redirect(v: Visit, to: str) -> RedirectResponse:
        response = RedirectResponse(to, status_code=303)
        sessions.write(response, v.session)
        return response

    def problem(v: Visit, status: int, title: str, detail: str) -> HTMLResponse:
        return render(v, "error.html", status, title=title, detail=detail)

    def sign_in_first(v: Visit) -> RedirectResponse:
        target = v.request.url.path
        if v.request.url.query:
            target += "?" + v.request.url.query
        return redirect(v, f"{v.base}/login?{urlencode({'next': target})}")

    def safe_next(v: Visit, target: str | None) -> str | None:
        # Only a path of this app: never another site (an open redirect).
        if not target or "\\" in target or target.startswith("//"):
            return None
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not target.startswith(v.base + "/"):
            return None
        return target

    async def form_of(request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def home_of(v: Visit) -> str:
        assert v.user is not None
        return f"{v.base}/dashboard" if v.user.role == "supervisor" else f"{v.base}/inbox"

    # --- sign in and out ---------------------------------------------------------------
    @app.get("/", response_model=None)
    async def home(request: Request) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        return redirect(v, home_of(v))

    @app.get("/login", response_model=None)
    async def login_page(request: Request, next: str | None = None) -> Response:
        v = visit(request)
        if v.user is not None:
            return redirect(v, safe_next(v, next) or home_of(v))
        return render(v, "login.html", next=next or "", error=None, username_value="")

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        v = visit(request)
        form = await form_of(request)
        username = form.get("username", "").strip().lower()[:40]
        target = form.get("next", "")
        if not csrf_ok(v.session, form.get("csrf_token")):
            return problem(
                v,
                403,
                "Form expired",
                "The sign-in form had expired or did not come from this site. Please try again.",
            )
        throttle = config.throttle
        if throttle.blocked(username):
            log.warning("web sign-in refused: too many failures", user=username)
            return render(
                v,
                "login.html",
                429,
                next=target,
                error="Too many failed attempts for this username. Try again in 15 minutes, "
                "or ask your administrator.",
                username_value=username,
            )
        user = await asyncio.to_thread(directory.authenticate, username, form.get("password", ""))
        if user is None:
            known = directory.user(username) is not None
            if known:
                throttle.failed(username)
            # A name that matches no user is not logged: it may be a mistyped password.
            log.info("web sign-in failed", user=username if known else "(unknown)")
            return render(
                v,
                "login.html",
                401,
                next=target,
                error="Unknown username or wrong password.",
                username_value=username,
            )
        throttle.succeeded(username)
        log.info("web sign-in", user=username, role=user.role)
        fresh = Visit(request, sessions.new(username), user, username)  # new token
        return redirect(fresh, safe_next(fresh, target) or home_of(fresh))

    @app.post("/logout", response_model=None)
    async def logout(request: Request) -> Response:
        v = visit(request)
        form = await form_of(request)
        if not csrf_ok(v.session, form.get("csrf_token")):
            return problem(v, 403, "Form expired", "Reload the page and sign out again.")
        anonymous = Visit(request, sessions.new(), None, None)
        anonymous.session["flash"] = "You have signed out."
        return redirect(anonymous, f"{v.base}/login")

    @app.get("/account", response_model=None)
    async def account(request: Request) -> Response:
        v = visit(request)
        if v.user is None or v.username is None:
            return sign_in_first(v)
        since = datetime.fromtimestamp(int(v.session.get("since", 0)), UTC)
        return render(
            v,
            "account.html",
            purpose=directory.current().purpose_of(v.username),
            since=since,
            ends=min(
                since + timedelta(seconds=sessions.lifetime_seconds),
                datetime.now(UTC) + timedelta(seconds=sessions.idle_seconds),
            ),
        )

    # --- the inbox -------------------------------------------------------------------
    @app.get("/inbox", response_model=None)
    async def inbox(request: Request) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        now = datetime.now(UTC)
        try:
            rows = await list_cases(
                await client_of(),
                CaseFilter(awaiting_role=v.user.role, running_only=True),
                now=now,
                sort="deadline",
                page_size=INBOX_LIMIT,
            )
        except RPCError as err:
            return problem(v, 503, "Cases unavailable", f"Temporal did not answer: {err.message}")
        return render(v, "inbox.html", rows=rows, now=now, limit=INBOX_LIMIT)

    # --- cases: search and filter ------------------------------------------------------------
    @app.get("/cases", response_model=None)
    async def cases(request: Request) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        q = request.query_params
        now = datetime.now(UTC)

        def text(name: str, limit: int = 120) -> str:
            return q.get(name, "").strip()[:limit]

        chosen = {
            "stage": text("stage"),
            "outcome": text("outcome"),
            "kind": text("kind"),
            "nationality": text("nationality", 2).upper(),
            "force": text("force", 40).lower(),
            "owner": text("owner"),
            "overdue": q.get("overdue") == "1",
            "stuck": q.get("stuck") == "1",
            "running": q.get("running") == "1",
            "sort": "deadline" if q.get("sort") == "deadline" else "opened",
        }
        try:
            page = max(int(q.get("page", "1")), 1)
            size = int(q.get("size", str(config.page_size)))
        except ValueError:
            page, size = 1, config.page_size
        size = size if size in PAGE_SIZES else config.page_size
        f = CaseFilter(
            kind=chosen["kind"] or None,
            stage=chosen["stage"] or None,
            outcome=chosen["outcome"] or None,
            nationality=chosen["nationality"] or None,
            force=chosen["force"] or None,
            owner=chosen["owner"] or None,
            overdue=bool(chosen["overdue"]),
            running_only=bool(chosen["running"]),
        )
        error = None
        rows: list[Any] = []
        total = 0
        why: dict[str, str] = {}
        gaps: list[Any] = []
        try:
            client = await client_of()
            if chosen["stuck"]:
                stuck = await stuck_cases(
                    client,
                    now=now,
                    failing_for=config.stuck_failing,
                    overdue_by=config.stuck_overdue,
                    notifications=NotificationStore(store.engine),
                    closed=ClosedProbe(),
                )
                why = {
                    s.case_id: _stuck_why(s.why) + (f" — {s.last_error}" if s.last_error else "")
                    for s in stuck
                }
                every = await list_cases(
                    client, f, now=now, sort=str(chosen["sort"]), page_size=100_000
                )
                matching = [r for r in every if r.case_id in why]
                listed = {r.case_id for r in every}
                # Not a case of the list (a daily file missing, …): shown apart.
                gaps = [s for s in stuck if s.case_id not in listed]
                total = len(matching)
                rows = matching[(page - 1) * size : page * size]
            else:
                total = (await client.count_workflows(visibility_query(f, now))).count
                rows = await list_cases(
                    client, f, now=now, sort=str(chosen["sort"]), page=page, page_size=size
                )
        except AccessRefused as err:
            error = str(err)
        except RPCError as err:
            return problem(v, 503, "Cases unavailable", f"Temporal did not answer: {err.message}")
        pages = max(math.ceil(total / size), 1)
        params = {k: ("1" if val is True else val) for k, val in chosen.items() if val}
        params["size"] = str(size)

        def page_link(n: int) -> str:
            return f"{v.base}/cases?{urlencode(params | {'page': str(n)})}"

        return render(
            v,
            "cases.html",
            rows=rows,
            chosen=chosen,
            stages=[(s.name, s.value) for s in Stage],
            outcomes=[(o.name, o.value) for o in Outcome],
            kinds=CASE_KINDS,
            page=page,
            pages=pages,
            size=size,
            sizes=PAGE_SIZES,
            total=total,
            why=why,
            gaps=gaps,
            error=error,
            page_link=page_link,
            now=now,
        )

    # --- the case page -----------------------------------------------------------------
    async def case_page(
        v: Visit,
        case_id: str,
        purpose: str,
        *,
        status: int = 200,
        refusal: str | None = None,
        errors: dict[str, Any] | None = None,
    ) -> HTMLResponse:
        assert v.user is not None
        client = await client_of()
        reader = Reader(actor=v.user.name, role=v.user.role, reason=purpose)
        try:
            state = await read_case(client, store, case_id, reader)
        except CaseNotFound:
            return problem(v, 404, "No such case", f"There is no case {case_id}.")
        except AccessRefused as err:
            return problem(v, 403, "Not allowed", str(err))
        except CaseUnreadable as err:
            log.warning("web case unreadable", case_id=case_id, why=err.why)
            return problem(
                v, 409, "Case cannot be read right now", f"{err.detail} (Error: {err.error})"
            )
        except RPCError as err:
            return problem(v, 503, "Case unavailable", f"Temporal did not answer: {err.message}")
        access_log = None
        if v.user.role in AUDIT_ROLES:
            access_log = list(reversed(audit(store, reader, case_id=case_id)))
        temporal_link = None
        if config.temporal_ui:
            try:
                described = await client.get_workflow_handle(case_id).describe()
                temporal_link = (
                    f"{config.temporal_ui.rstrip('/')}/namespaces/{quote(config.namespace)}"
                    f"/workflows/{quote(case_id, safe='')}/{quote(described.run_id)}/history"
                )
            except RPCError:
                temporal_link = None
        forms: list[DecisionForm] = (
            decisions_accepted(state.awaiting, v.user.role) if v.user.role != "supervisor" else []
        )
        others = [
            (kind, decision_form(kind).roles if _known(kind) else [])
            for kind in state.awaiting
            if kind not in {f.kind for f in forms}
        ]
        return render(
            v,
            "case.html",
            status,
            case=state,
            kind=_kind_of(state),
            facts=_facts(state),
            purpose=purpose,
            access_log=access_log,
            temporal_link=temporal_link,
            forms=forms,
            others=others,
            refusal=refusal,
            errors=errors or {},
            timeline=list(reversed(state.timeline)),
            now=datetime.now(UTC),
            prefill={"case_owner": v.user.name},
        )

    def purpose_of(v: Visit, stated: str | None) -> str | None:
        assert v.username is not None
        stated = (stated or "").strip()[:2000]
        return stated or directory.current().purpose_of(v.username)

    @app.get("/cases/{case_id:path}", response_model=None)
    async def show_case(request: Request, case_id: str, purpose: str | None = None) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        why = purpose_of(v, purpose)
        # Opened from another site's link: ask first, so no other site can make a
        # signed-in user's browser record a consultation in their name.
        cross_site = request.headers.get("sec-fetch-site") == "cross-site"
        if not why or cross_site:
            return render(v, "purpose.html", case_id=case_id, suggested=why or "")
        return await case_page(v, case_id, why)

    @app.post("/cases/{case_id:path}/decisions", response_model=None)
    async def decide(request: Request, case_id: str) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        form = await form_of(request)
        if not csrf_ok(v.session, form.get("csrf_token")):
            return problem(
                v,
                403,
                "Form expired",
                "The form had expired or did not come from this site: nothing was sent. "
                "Open the case again and resend your decision.",
            )
        kind = form.get("kind", "")
        if v.user.role == "supervisor":
            log.warning("web decision refused: supervisor", case_id=case_id, kind=kind)
            return problem(
                v, 403, "Not allowed", "A supervisor may read cases but makes no decision."
            )
        if not _known(kind) or not decision_form(kind).allows(v.user.role):
            log.warning("web decision refused: role", case_id=case_id, kind=kind, role=v.user.role)
            return problem(
                v,
                403,
                "Not allowed",
                f"A {labels.role(v.user.role).lower()} may not make this decision.",
            )
        purpose = purpose_of(v, form.get("purpose")) or "deciding on the case"
        spec = decision_form(kind)
        decision, errors = _decision_from_form(spec, form)
        reason = form.get("reason", "").strip()
        if len(reason) < 3:
            errors["reason"] = "State the reason for your decision (at least 3 characters)."
        if not errors:
            try:
                req = DecisionRequest.model_validate(
                    {
                        "actor": v.user.name,
                        "role": v.user.role,
                        "reason": reason,
                        "decision": decision,
                    }
                )
            except ValidationError as err:
                for e in err.errors(include_url=False, include_input=False):
                    loc = [str(p) for p in e["loc"]]
                    name = loc[-1] if loc and loc[0] == "decision" else (loc[0] if loc else "")
                    errors[name or "form"] = e["msg"]
        if errors:
            errors["_kind"] = kind
            errors["_values"] = form
            return await case_page(v, case_id, purpose, status=422, errors=errors)
        try:
            result = await send_decision(await client_of(), case_id, req)
        except DecisionRefused as err:
            log.info("web decision refused by the case", case_id=case_id, kind=kind)
            return await case_page(
                v, case_id, purpose, status=409, refusal=str(err), errors={"_values": form}
            )
        except CaseNotFound:
            return problem(v, 404, "No such case", f"There is no case {case_id}.")
        except CaseUnreadable as err:
            log.warning("web decision to an unreadable case", case_id=case_id, why=err.why)
            return problem(v, 409, "Decision not sent", err.detail)
        except RPCError as err:
            return problem(
                v,
                503,
                "Decision not sent",
                f"Temporal did not answer ({err.message}); the decision may not have been "
                "recorded. Open the case again to see.",
            )
        log.info("web decision", case_id=case_id, kind=kind, role=v.user.role)
        v.session["flash"] = (
            f"Decision recorded: {labels.decision(kind)}. The case is now at: {result.stage}"
        )
        target = f"{v.base}/cases/{quote(case_id, safe='')}?{urlencode({'purpose': purpose})}"
        return redirect(v, target)

    # --- the dashboard -------------------------------------------------------------------
    @app.get("/dashboard", response_model=None)
    async def dashboard_page(request: Request) -> Response:
        v = visit(request)
        if v.user is None:
            return sign_in_first(v)
        if v.user.role not in DASHBOARD_ROLES:
            return problem(v, 403, "Not allowed", "The dashboard is for supervisors.")
        now = datetime.now(UTC)
        try:
            d = await dashboard(
                await client_of(), store, now=now, tz=config.tz, day_seconds=config.day_seconds
            )
        except RPCError as err:
            return problem(v, 503, "Figures unavailable", f"Temporal did not answer: {err.message}")
        reply_series = [(c, d.replies.counts[c]) for c in d.replies.counts]
        return render(
            v,
            "dashboard.html",
            d=d,
            stage_chart=charts.bar_chart("Open cases by stage", d.by_stage),
            outcome_chart=charts.bar_chart("Cases by outcome", d.by_outcome),
            weeks_chart=charts.column_chart(
                "Cases opened and closed per week",
                d.weeks,
                [("opened", d.opened_per_week), ("closed", d.closed_per_week)],
            ),
            replies_chart=charts.column_chart(
                "Replies by time to answer (days), per channel", d.replies.buckets, reply_series
            ),
            funnel_chart=charts.funnel("From check to deportation", d.funnel),
        )

    return app


def _stuck_why(why: str) -> str:
    """A stuck row's reason in words (a reason code is named as such)."""
    if why == CANNOT_REPLAY:
        return "its history cannot be replayed by the current workers (cannot_replay)"
    if why == QUERY_FAILED:
        return "its state cannot be read (query_failed)"
    return why


def _kind_of(state: CaseView) -> str:
    kind = kind_of_state(state)
    return kind.name if kind else "other"


def _facts(state: CaseView) -> list[tuple[str, Any]]:
    """A case of another kind (a notification, …): its own simple fields, by name."""
    if isinstance(state, (CaseworkState, EncounterState)):
        return []
    simple = (str, int, float, bool, datetime, date)
    return [
        (labels.words(name), value)
        for name in type(state).model_fields
        if name not in CaseView.model_fields
        and isinstance(value := getattr(state, name), simple)
        and value != ""
    ]


def _known(kind: str) -> bool:
    try:
        decision_form(kind)
    except KeyError:
        return False
    return True


def _decision_from_form(spec: DecisionForm, form: dict[str, str]) -> tuple[dict[str, Any], dict]:
    """The decision's fields from the form (``f.<name>``), typed; with each field's
    problem in words."""
    decision: dict[str, Any] = {"kind": spec.kind}
    errors: dict[str, Any] = {}
    for f in spec.fields:
        raw = form.get(f"f.{f.name}", "").strip()
        if raw == "":
            if f.required:
                errors[f.name] = (
                    "Choose one." if f.type == "boolean" or f.choices else "This is needed."
                )
            continue
        if f.type == "boolean":
            if raw not in ("true", "false"):
                errors[f.name] = "Choose one."
                continue
            decision[f.name] = raw == "true"
        elif f.type == "integer":
            try:
                decision[f.name] = int(raw)
            except ValueError:
                errors[f.name] = "A whole number is needed."
        elif f.type == "number":
            try:
                decision[f.name] = float(raw)
            except ValueError:
                errors[f.name] = "A number is needed."
        else:
            if f.choices and raw not in f.choices:
                errors[f.name] = "Choose one of the options."
                continue
            decision[f.name] = raw
    return decision, errors


# --- configuration ---------------------------------------------------------------------
class WebConfigError(ValueError):
    """The web app's configuration is incomplete (raised at start-up)."""


def web_config_from_env(
    env: dict[str, str], *, namespace: str = "default", day_seconds: float = 86400.0
) -> WebConfig | None:
    """The web app's settings, or None when ``FNO_WEB_USERS_FILE`` is not set (the app
    is not served). Raises ``WebConfigError`` or ``UsersFileError`` for a bad one.

    ``FNO_WEB_USERS_FILE`` the users file; ``FNO_WEB_SECRET`` the session-signing
    secret (32+ characters, the same for every replica); ``FNO_WEB_SECURE_COOKIE=1``
    behind HTTPS; ``FNO_TEMPORAL_UI_URL`` the Temporal Web UI case pages link to;
    ``FNO_WEB_TIMEZONE`` times shown (default Europe/London)."""
    from web.auth import UsersFileError
    from web.sessions import SecretError

    users = env.get("FNO_WEB_USERS_FILE", "").strip()
    if not users:
        return None
    secret = env.get("FNO_WEB_SECRET", "").strip()
    if not secret:
        raise WebConfigError(
            "FNO_WEB_USERS_FILE is set but FNO_WEB_SECRET is not: set a random secret of 32+ "
            "characters, the same for every replica of the API"
        )
    try:
        sessions = Sessions(
            secret, secure=env.get("FNO_WEB_SECURE_COOKIE", "").lower() in ("1", "true", "yes")
        )
    except SecretError as err:
        raise WebConfigError(str(err)) from None
    try:
        directory = Directory.load(Path(users))
    except (OSError, UsersFileError) as err:
        raise WebConfigError(str(err)) from None
    return WebConfig(
        directory=directory,
        sessions=sessions,
        namespace=namespace,
        temporal_ui=env.get("FNO_TEMPORAL_UI_URL", "").strip() or None,
        tz=display_zone(env.get("FNO_WEB_TIMEZONE")),
        day_seconds=day_seconds,
    )


def session_authenticator(config: WebConfig) -> Authenticator:
    """The codec server's hook for web sessions (``api.codec_server.Authenticator``): a
    signed-in user decodes in the Temporal Web UI as themselves, with their default
    purpose (the Web UI's "include cross-origin credentials" setting sends the cookie)."""

    async def authenticate(request: Request) -> Viewer | None:
        session = config.sessions.read(request)
        username = session.get("user") if session else None
        if not isinstance(username, str):
            return None
        user = config.directory.user(username)
        if user is None:
            return None
        purpose = config.directory.current().purpose_of(username)
        return Viewer(actor=user.name, role=user.role, reason=purpose)

    return authenticate
