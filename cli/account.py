"""``fno login``, ``fno whoami``, ``fno logout``: your sign-in (kept by ``cli.session``).

fno login                      username and password (asked), exchanged with the
                               API's own issuer (OAuth 2 password grant, POST
                               /auth/token) for a short-lived token
fno login --password-stdin     the password from stdin (a password manager, a script)
fno login --token-stdin        an access token from your identity provider
                               (Keycloak, Entra ID…), checked with the API first
fno whoami                     who the API says your token proves (GET /me)
fno logout                     forget the token on this machine
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from cli import render, session
from cli.client import Api, body, call, detail, person, with_token
from cli.render import AUTH_EXIT, fail, print_json

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def login(
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Your user name (asked if not given).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
    ] = False,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="Read an access token from stdin, obtained from your identity provider "
            "(when the API's own issuer is off).",
        ),
    ] = False,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="The FNO API: default FNO_API_URL, else the one you signed in to last, "
            f"else {session.DEFAULT_API_URL}.",
        ),
    ] = None,
) -> None:
    """Sign in: obtain a short-lived access token for the other commands.

    Kept in $XDG_CONFIG_HOME/fno/token.json (~/.config/fno), readable by you only."""
    env = os.environ
    if token_stdin and (password_stdin or username):
        fail("--token-stdin takes a token, not a user name or password: use one or the other.", 2)
    url = session.normal_url(
        api_url or env.get("FNO_API_URL") or session.stored_api_url(env) or session.DEFAULT_API_URL
    )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{url!r} is not an API address: use e.g. https://fno.example.org", AUTH_EXIT)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        render.err.print(
            f"Warning: {url} is not HTTPS: your credentials and token cross the network "
            "unencrypted.",
            style="yellow",
            markup=False,
        )
    expires_at: datetime | None = None
    if token_stdin:
        token = _token_from_stdin()
    else:
        token, expires_at = _password_grant(url, username, password_stdin)
    me = _me(with_token(url, token, kind="login"))
    if me is None and token_stdin:
        render.err.print(
            f"Warning: {url} has no GET /me: the token is kept unchecked.",
            style="yellow",
            markup=False,
        )
    if me is not None and me.get("expires_at"):
        expires_at = datetime.fromisoformat(str(me["expires_at"]))
    path = session.save(session.Session(token, expires_at, url), env)
    who = f" as {me.get('name')} ({me.get('role')})" if me else ""
    until = f", until {render.when(expires_at.isoformat())}" if expires_at else ""
    render.out.print(f"Signed in{who} at {url}{until}. Token kept in {path}.", markup=False)


def _token_from_stdin() -> str:
    if sys.stdin.isatty():
        render.err.print("Paste the access token, then Ctrl-D:", markup=False)
    token = sys.stdin.read().strip()
    if token.lower().startswith("bearer "):
        token = token[len("bearer ") :].strip()
    if not token or any(c.isspace() for c in token):
        fail(
            "--token-stdin: give one access token on stdin (e.g. "
            "`my-idp-cli get-token | fno login --token-stdin`).",
            AUTH_EXIT,
        )
    return token


def _password_grant(
    url: str, username: str | None, password_stdin: bool
) -> tuple[str, datetime | None]:
    """Username and password for a token from the API's own issuer (``POST
    /auth/token``, OAuth 2 password grant)."""
    if password_stdin and not username:
        fail("--password-stdin: name the user with --username.", AUTH_EXIT)
    name = (username or typer.prompt("Username")).strip()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if not name or not password:
        fail("Give a user name and a password.", AUTH_EXIT)
    answer = call(
        Api(url=url, authorization="", kind="login"),
        "POST",
        "/auth/token",
        data={"grant_type": "password", "username": name, "password": password},
        authorized=False,
    )
    if answer.status_code == 404:
        fail(
            f"{url} issues no tokens itself (its local issuer is off): sign in with your "
            "identity provider and give its access token to `fno login --token-stdin`.",
            AUTH_EXIT,
        )
    said = body(answer)
    if answer.status_code != 200 or not isinstance(said, dict) or not said.get("access_token"):
        fail(f"Sign-in refused: {detail(answer)}", AUTH_EXIT)
    lifetime = said.get("expires_in")
    expires_at = (
        datetime.now(UTC) + timedelta(seconds=float(lifetime))
        if isinstance(lifetime, int | float)
        else None
    )
    return str(said["access_token"]), expires_at


def _me(api: Api) -> dict[str, Any] | None:
    """``GET /me``: who the token proves (a refused token ends the command, exit 2);
    None when the API has no such route."""
    answer = call(api, "GET", "/me")
    said = body(answer)
    if answer.status_code == 200 and isinstance(said, dict):
        return said
    if answer.status_code == 404:
        return None
    fail(f"The API did not say who the token is for: {detail(answer)}", AUTH_EXIT)


def whoami(as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False) -> None:
    """Who you are signed in as, as the API sees your token.

    Name, role, force, and until when the token is valid (GET /me)."""
    api = person()
    me = _me(api)
    if me is None:
        fail(f"{api.url} has no GET /me route: it cannot say who your token is for.", 1)
    if as_json:
        print_json(me)
        return
    render.principal(me, api.url)


def logout() -> None:
    """Forget your token on this machine.

    It is not revoked: it lapses at its expiry, minutes away for the API's own tokens."""
    if session.forget(os.environ):
        render.out.print("Signed out: the token is deleted from this machine.")
    else:
        render.out.print("Not signed in: nothing to delete.")
