"""``python -m web.users``: the web app's users file.

    python -m web.users add USERNAME --name "Sam Jones" --role caseworker
    python -m web.users add pquinn --name "Pat Quinn" --role police_officer --force hampshire
    python -m web.users remove USERNAME
    python -m web.users list
    python -m web.users purpose ROLE "the default purpose of this role's reads"
    python -m web.users sign-out USERNAME    end every web session of the user now

The file is ``--file`` or ``FNO_WEB_USERS_FILE``. ``add`` asks for the password twice
(or reads one line from standard input with ``--password-stdin``) and stores only its
Argon2id hash; ``--replace`` changes an existing user (a new password, name, role or
force). A police officer needs ``--force`` (their force's code, as custody events name
it): they read their own force's encounters only.
The running app sees the change at the next request: a new password ends every web
session opened with the old one, a removed user's sessions end too. ``sign-out`` ends
a user's sessions without changing anything else (a lost laptop): it deletes them from
the case store (``FNO_DATABASE_URL``, else ``$FNO_HOME/casework.db``; or the Redis of
``FNO_SIGN_IN_REDIS_URL``), so every replica
refuses their cookies from the next request.

``ensure_demo_users`` makes the local demo file of ``make run``: one user per role (the
police officer of the Hampshire force), with random passwords kept beside it
(``.fno/``, git-ignored) and printed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import secrets
import sys
from pathlib import Path

from pydantic import ValidationError

from store.engine import make_engine
from store.migrate import SchemaOutOfDateError, require_current
from store.sign_in import RedisSessionStore, SessionStore
from web.auth import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    USERNAME_PATTERN,
    User,
    UsersFile,
    UsersFileError,
    hash_password,
    read_users_file,
    write_users_file,
)

DEFAULT_PURPOSES = {
    "caseworker": "casework: deciding on cases awaiting a caseworker",
    "senior_caseworker": "casework: decisions needing a senior caseworker",
    "director": "CC Director's review of submissions",
    "supervisor": "supervision and quality review",
    "police_officer": "the custody record of a person in our custody",
    "acro_officer": "ACRO checks with other countries",
    "ice_officer": "locating and removing the subject (ICE tasking)",
    "cc_manager": "allocating cases to case owners and teams",
    "detention_gatekeeper": "Detention Gatekeeper review of proposals to detain",
}
# username, name, role, force
DEMO_USERS: list[tuple[str, str, str, str | None]] = [
    ("sam", "Sam Jones", "caseworker", None),
    ("alex", "Alex Morgan", "senior_caseworker", None),
    ("dana", "Dana Reid", "director", None),
    ("sue", "Sue Park", "supervisor", None),
    ("pat", "Pat Quinn", "police_officer", "hampshire"),
    ("ash", "Ash Patel", "acro_officer", None),
    ("ike", "Ike Bello", "ice_officer", None),
    ("cora", "Cora Lind", "cc_manager", None),
    ("gabe", "Gabe Okafor", "detention_gatekeeper", None),
]
DEMO_PASSWORDS_FILE = "web-demo-passwords.json"


def _load(path: Path) -> UsersFile:
    return read_users_file(path) if path.exists() else UsersFile()


def ensure_demo_users(path: Path) -> dict[str, tuple[str, str, str]]:
    """Create the demo users file (and its passwords file beside it) unless it exists.
    Returns username -> (name, role, password) for printing, read from the passwords
    file; empty if the users file was not made here."""
    passwords = path.parent / DEMO_PASSWORDS_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        users = UsersFile(purposes=dict(DEFAULT_PURPOSES))
        plain: dict[str, str] = {}
        for username, name, role, force in DEMO_USERS:
            plain[username] = secrets.token_urlsafe(9)
            users.users[username] = User(
                name=name, role=role, force=force, password_hash=hash_password(plain[username])
            )
        fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(plain, f, indent=2)
        write_users_file(path, users)
    if not passwords.exists():
        return {}
    plain = json.loads(passwords.read_text(encoding="utf-8"))
    users = read_users_file(path)
    # A demo file made before a role existed gets that role's demo user too.
    missing = [u for u in DEMO_USERS if u[0] not in users.users and u[0] not in plain]
    if missing:
        for username, name, role, force in missing:
            plain[username] = secrets.token_urlsafe(9)
            users.users[username] = User(
                name=name, role=role, force=force, password_hash=hash_password(plain[username])
            )
            users.purposes.setdefault(role, DEFAULT_PURPOSES[role])
        passwords.write_text(json.dumps(plain, indent=2), encoding="utf-8")
        write_users_file(path, users)
    return {
        u: (users.users[u].name, users.users[u].role, p)
        for u, p in plain.items()
        if u in users.users
    }


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("The passwords differ; nothing changed.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SystemExit(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.users", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--file", type=Path, default=None, help="the users file (default FNO_WEB_USERS_FILE)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user (or change one, with --replace)")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the name shown and recorded on cases")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--purpose", default=None, help="this user's default purpose of reads")
    add.add_argument("--force", default=None, help="a police officer's force code (e.g. kent)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--replace", action="store_true")
    remove = sub.add_parser("remove", help="remove a user (their session ends)")
    remove.add_argument("username")
    sub.add_parser("list", help="the users, without their hashes")
    purpose = sub.add_parser("purpose", help="set a role's default purpose ('' to remove)")
    purpose.add_argument("role", choices=ROLES)
    purpose.add_argument("text")
    sign_out = sub.add_parser("sign-out", help="end every web session of a user now")
    sign_out.add_argument("username")
    args = parser.parse_args(argv)
    if args.command == "sign-out":
        return _sign_out(args.username.lower())

    path = args.file or (
        Path(os.environ["FNO_WEB_USERS_FILE"]) if os.environ.get("FNO_WEB_USERS_FILE") else None
    )
    if path is None:
        print("Name the users file: --file PATH or FNO_WEB_USERS_FILE.", file=sys.stderr)
        return 2
    try:
        users = _load(path)
    except UsersFileError as err:
        print(err, file=sys.stderr)
        return 2

    if args.command == "list":
        for username, u in sorted(users.users.items()):
            print(f"{username}\t{u.role}\t{u.name}" + (f"\t{u.force}" if u.force else ""))
        for role, text in sorted(users.purposes.items()):
            print(f"purpose\t{role}\t{text}")
        return 0
    if args.command == "add":
        username = args.username.lower()
        if not re.match(USERNAME_PATTERN, username):
            print(
                "A username is 2-40 lower-case letters, digits, '.', '_' or '-'.", file=sys.stderr
            )
            return 2
        if username in users.users and not args.replace:
            print(f"{username} exists; use --replace to change it.", file=sys.stderr)
            return 1
        try:
            user = User(
                name=args.name,
                role=args.role,
                password_hash=hash_password(_password(args.password_stdin)),
                purpose=args.purpose,
                force=args.force.strip().lower() if args.force else None,
            )
        except ValidationError as err:
            problems = "; ".join(e["msg"] for e in err.errors(include_url=False))
            print(f"Not saved: {problems}", file=sys.stderr)
            return 2
        users.users[username] = user
        write_users_file(path, users)
        print(f"{username} ({args.role}) saved in {path}")
        return 0
    if args.command == "remove":
        if users.users.pop(args.username.lower(), None) is None:
            print(f"no user {args.username}", file=sys.stderr)
            return 1
        write_users_file(path, users)
        print(f"{args.username} removed")
        return 0
    if args.command == "purpose":
        if args.text.strip():
            users.purposes[args.role] = args.text.strip()
        else:
            users.purposes.pop(args.role, None)
        write_users_file(path, users)
        return 0
    return 2


def _sign_out(username: str) -> int:
    # The store's database as runtime.config.Settings names it (this needs no secret).
    home = Path(os.environ.get("FNO_HOME", ".fno")).resolve()
    engine = make_engine(os.environ.get("FNO_DATABASE_URL") or f"sqlite:///{home / 'casework.db'}")
    redis = os.environ.get("FNO_SIGN_IN_REDIS_URL", "").strip()
    try:
        if redis:  # sessions kept in Redis (web.config.redis_from_env)
            ended = RedisSessionStore(redis).end_all(username)
        else:
            require_current(engine)
            ended = SessionStore(engine).end_all(username)
    except SchemaOutOfDateError as err:
        print(err, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"{ended} web session(s) of {username} ended")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
