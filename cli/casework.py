"""``fno reopen``, ``fno note`` and ``fno attach``: a closed case reopened, a staff
note, an attachment (issue 21; ``api.reopen``, ``api.case_files``), and what ``fno
show`` adds of them (``case_files``)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cli import render
from cli.client import body, call, detail, person
from cli.render import AUTH_EXIT, NO_ANSWER_EXIT, fail


def _path(case_id: str, *rest: str) -> str:
    return "/".join(["/cases", quote(case_id, safe="/"), *rest])


def _done(answer: Any) -> dict[str, Any]:
    said = body(answer)
    if answer.status_code in (200, 201) and isinstance(said, dict):
        return said
    if answer.status_code >= 500:
        fail(detail(answer), NO_ANSWER_EXIT)
    fail(detail(answer), AUTH_EXIT if answer.status_code in (404, 413, 415, 422) else 1)


def reopen(
    case_id: str,
    grounds: Annotated[
        str, typer.Option(help="wrongly_closed, or returned_to_uk (left or removed, now back).")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the case).")],
) -> None:
    """Reopen a closed Criminal Casework case with its history (senior caseworkers, CC
    managers): it goes back to allocation. Exit status 1 when the case is open."""
    said = _done(
        call(
            person(), "POST", _path(case_id, "reopen"), json={"grounds": grounds, "reason": reason}
        )
    )
    render.out.print(
        f"Reopened (was: {said.get('previous_outcome')}); back to allocation.", markup=False
    )


def note(case_id: str, text: str) -> None:
    """Add a staff note to a case (logged)."""
    said = _done(call(person(), "POST", _path(case_id, "notes"), json={"text": text}))
    render.out.print(f"Note added at {render.when(said.get('at'))}.", markup=False)


def attach(
    case_id: str,
    file: Path,
    kind: Annotated[
        str, typer.Option(help="representations, police_form, submission or other.")
    ] = "other",
) -> None:
    """Attach a document to a case (PDF, PNG, JPEG or text; at most 5 MiB). Prints its
    ID: a decision names it (``attachment_id=…``)."""
    try:
        content = file.read_bytes()
    except OSError as e:
        fail(f"Cannot read {file}: {e.strerror}", AUTH_EXIT)
    media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    said = _done(
        call(
            person(),
            "POST",
            _path(case_id, "attachments"),
            params={"kind": kind, "filename": file.name},
            content=content,
            content_type=media_type,
        )
    )
    render.out.print(f"Attached: {said.get('id')}", markup=False)


def has_files(state: dict[str, Any]) -> bool:
    """Whether ``fno show`` lists notes and attachments: those of a casework case."""
    return str(state.get("case_id", "")).startswith("casework-")


def case_files(case_id: str, reason: str | None) -> dict[str, list[dict[str, Any]]]:
    """The case's notes and attachments (described) for ``fno show``; none when the
    caller may not read them."""
    api = person()
    found: dict[str, list[dict[str, Any]]] = {}
    for what in ("notes", "attachments"):
        answer = call(api, "GET", _path(case_id, what), reason=reason, forbidden_ok=True)
        rows = body(answer)
        found[what] = rows if answer.status_code == 200 and isinstance(rows, list) else []
    return found
