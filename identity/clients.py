"""The credentials of calling systems (custody systems, the PNC feed, ACRO): hashed,
scoped to the routes and forces each may use, compared in constant time.

A system presents ``<client id>.<secret>`` as ``Authorization: Bearer …`` (or
``X-API-Key: …``). The clients file (``FNO_API_CLIENTS_FILE``, or the same JSON in
``FNO_API_CLIENTS``) keeps only the SHA-256 of each secret::

    {"kent-custody": {"name": "Kent custody system",
                      "secret_sha256": ["9f86d0…"],
                      "scopes": ["custody-events"], "forces": ["kent"],
                      "purpose": null}}

Scopes: ``custody-events`` (``POST /custody-events``, for its ``forces`` only; ``*``:
any force), ``daily-files`` (``POST /daily-files``: the PNC feed), ``acro-replies``
(``POST /integrations/acro/replies``: ACRO). ``purpose`` is the stated purpose of the
system's reads, if any.

    python -m identity.clients add kent-custody --name "Kent custody system" \\
        --scope custody-events --force kent          # prints the credential, once
    python -m identity.clients rotate kent-custody  # a second secret; the first still works
    python -m identity.clients retire kent-custody  # only the newest secret works
    python -m identity.clients remove kent-custody
    python -m identity.clients list

The file is ``--file`` or ``FNO_API_CLIENTS_FILE``; the running API reads it again when
it changes. The plain keys of before (``FNO_API_KEYS``) are refused at start-up with how
to convert them (``refuse_plain_api_keys``).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from identity.principal import ANY_FORCE, SYSTEM_ROLE, Principal
from runtime.private import PRIVATE_FILE_MODE, ensure_private_dir

Scope = Literal["custody-events", "daily-files", "acro-replies"]
SCOPES: tuple[str, ...] = ("custody-events", "daily-files", "acro-replies")
CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,39}$"
SECRET_BYTES = 32
_DUMMY_DIGEST = hashlib.sha256(b"no client has this secret").hexdigest()


class ClientsConfigError(ValueError):
    """The clients file is unreadable or malformed, or plain API keys are configured."""


class SystemClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120, description="Recorded on what it sends.")
    secret_sha256: list[str] = Field(min_length=1, max_length=2)
    scopes: list[Scope] = Field(min_length=1)
    forces: list[str] = Field(default_factory=list)
    purpose: str | None = Field(default=None, max_length=2000)

    @field_validator("secret_sha256")
    @classmethod
    def _digests(cls, digests: list[str]) -> list[str]:
        if not all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests):
            raise ValueError("each secret_sha256 is 64 lower-case hex digits")
        return digests

    @field_validator("forces")
    @classmethod
    def _forces(cls, forces: list[str]) -> list[str]:
        bad = [f for f in forces if f != ANY_FORCE and not re.fullmatch(r"[a-z0-9][a-z0-9-]+", f)]
        if bad:
            raise ValueError(f"force codes are lower case (e.g. kent), or '*': not {bad}")
        return forces


class ClientsFile(BaseModel):
    clients: dict[str, SystemClient] = Field(default_factory=dict)

    @field_validator("clients")
    @classmethod
    def _ids(cls, clients: dict[str, SystemClient]) -> dict[str, SystemClient]:
        bad = [c for c in clients if not re.match(CLIENT_ID_PATTERN, c)]
        if bad:
            raise ValueError(f"client ids are 2-40 lower-case letters, digits, '_' or '-': {bad}")
        return clients


def digest(secret: str) -> str:
    """SHA-256 of a secret: a random 256-bit secret needs no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_clients(text: str, source: str) -> ClientsFile:
    try:
        raw = json.loads(text) if text.strip() else {}
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return ClientsFile(clients=raw)
    except (ValueError, ValidationError) as err:
        raise ClientsConfigError(f"the system clients in {source} are malformed: {err}") from None


def read_clients_file(path: Path) -> ClientsFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ClientsConfigError(f"cannot read the clients file {path}: {err.strerror}") from None
    return parse_clients(text, str(path))


def dump_clients(clients: ClientsFile) -> str:
    """The clients as ``FNO_API_CLIENTS`` or the clients file holds them."""
    return json.dumps({k: v.model_dump() for k, v in sorted(clients.clients.items())}, indent=2)


def write_clients_file(path: Path, clients: ClientsFile) -> None:
    """Replace the file in one step, readable by its owner only (0600; a folder it
    makes, 0700)."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".clients-", suffix=".json")
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dump_clients(clients) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_secret(clients: ClientsFile, client_id: str, *, keep_old: bool) -> str:
    """A new secret for ``client_id`` (its digest stored); the credential to hand over."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    entry = clients.clients[client_id]
    kept = entry.secret_sha256[-1:] if keep_old else []
    entry.secret_sha256 = [*kept, digest(secret)]
    return f"{client_id}.{secret}"


def add_client(
    clients: ClientsFile,
    client_id: str,
    *,
    name: str,
    scopes: Sequence[str],
    forces: Sequence[str] = (),
    purpose: str | None = None,
) -> str:
    """A new client in ``clients`` (``ValueError`` when its fields are not valid); its
    credential ``<client id>.<secret>``, to hand over once."""
    if not re.match(CLIENT_ID_PATTERN, client_id):
        raise ValueError("a client id is 2-40 lower-case letters, digits, '_' or '-'")
    clients.clients[client_id] = SystemClient.model_validate(
        {
            "name": name,
            "secret_sha256": [_DUMMY_DIGEST],  # replaced by the new secret's below
            "scopes": sorted(set(scopes)),
            "forces": sorted(set(forces)),
            "purpose": purpose,
        }
    )
    return new_secret(clients, client_id, keep_old=False)


def refuse_plain_api_keys(env: Mapping[str, str]) -> None:
    """``FNO_API_KEYS`` / ``FNO_API_KEYS_FILE`` (plain, unscoped keys) are no longer
    read: refuse to start, saying how to convert them."""
    name = next((n for n in ("FNO_API_KEYS", "FNO_API_KEYS_FILE") if env.get(n, "").strip()), None)
    if name is None:
        return
    raise ClientsConfigError(
        f"{name} (plain API keys, usable for any route and force) is no longer read. "
        "Give each system a hashed, scoped credential instead: python -m identity.clients "
        "add <client-id> --name '<system>' --scope custody-events --force <force> "
        "--file clients.json (or --scope daily-files for the PNC feed); hand the printed "
        f"credential to the system, set FNO_API_CLIENTS_FILE=clients.json and unset {name}."
    )


@dataclass
class SystemClients:
    """The configured system clients, read again when their file changes."""

    path: Path | None = None
    _fixed: ClientsFile = field(default_factory=ClientsFile)
    _stamp: tuple[int, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, clients: ClientsFile) -> SystemClients:
        return cls(None, clients)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SystemClients:
        """``FNO_API_CLIENTS_FILE`` or ``FNO_API_CLIENTS`` (none: no system may call).
        Refuses plain API keys and a malformed file (``ClientsConfigError``)."""
        refuse_plain_api_keys(env)
        if env.get("FNO_API_CLIENTS_FILE", "").strip():
            found = cls(Path(env["FNO_API_CLIENTS_FILE"].strip()))
            found.current()
            return found
        return cls.of(parse_clients(env.get("FNO_API_CLIENTS", ""), "FNO_API_CLIENTS"))

    def current(self) -> ClientsFile:
        if self.path is None:
            return self._fixed
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._fixed = read_clients_file(self.path)
                self._stamp = stamp
            return self._fixed

    def authenticate(self, credential: str) -> Principal | None:
        """The system whose credential (``<client id>.<secret>``) this is, or None."""
        client_id, _, secret = credential.strip().partition(".")
        try:
            entry = self.current().clients.get(client_id) if secret else None
        except (OSError, ClientsConfigError):
            entry = None  # the file went away or broke: no system is known
        presented = digest(secret)
        # Every stored digest is compared, in constant time, whichever matches.
        matched = False
        for stored in entry.secret_sha256 if entry else [_DUMMY_DIGEST]:
            matched |= hmac.compare_digest(presented, stored)
        if entry is None or not matched:
            return None
        return Principal(
            subject=f"client:{client_id}",
            name=entry.name,
            role=SYSTEM_ROLE,
            kind="system",
            scopes=tuple(entry.scopes),
            forces=tuple(entry.forces),
            reason=entry.purpose,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m identity.clients", description="The system clients file."
    )
    parser.add_argument(
        "--file", type=Path, default=None, help="the clients file (default FNO_API_CLIENTS_FILE)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="a new client; its credential is printed once")
    add.add_argument("client_id")
    add.add_argument("--name", required=True, help="the system's name, recorded on its cases")
    add.add_argument("--scope", action="append", required=True, choices=SCOPES)
    add.add_argument("--force", action="append", default=[], help="a force it sends for; '*': any")
    add.add_argument("--purpose", default=None, help="the stated purpose of its reads")
    for name, text in [
        ("rotate", "a second secret, printed once; the current one keeps working"),
        ("retire", "keep only the newest secret"),
        ("remove", "remove the client"),
    ]:
        sub.add_parser(name, help=text).add_argument("client_id")
    sub.add_parser("list", help="the clients, without their secrets")
    args = parser.parse_args(argv)

    path: Path | None = args.file or (
        Path(os.environ["FNO_API_CLIENTS_FILE"]) if os.environ.get("FNO_API_CLIENTS_FILE") else None
    )
    if path is None:
        print("Name the clients file: --file PATH or FNO_API_CLIENTS_FILE.", file=sys.stderr)
        return 2
    try:
        clients = read_clients_file(path) if path.exists() else ClientsFile()
    except ClientsConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if args.command == "list":
        for cid, c in sorted(clients.clients.items()):
            print(f"{cid}\t{','.join(c.scopes)}\t{','.join(c.forces) or '-'}\t{c.name}")
        return 0
    cid = args.client_id
    credential = None
    if args.command == "add":
        if cid in clients.clients:
            print(f"{cid} exists: rotate its secret, or remove it first.", file=sys.stderr)
            return 1
        if "custody-events" in args.scope and not args.force:
            print("A custody system sends for its force: give --force.", file=sys.stderr)
            return 2
        try:
            credential = add_client(
                clients,
                cid,
                name=args.name,
                scopes=args.scope,
                forces=args.force,
                purpose=args.purpose,
            )
        except ValueError as err:
            print(f"Not added: {err}", file=sys.stderr)
            return 2
    elif cid not in clients.clients:
        print(f"no client {cid}", file=sys.stderr)
        return 1
    elif args.command == "rotate":
        credential = new_secret(clients, cid, keep_old=True)
    elif args.command == "retire":
        clients.clients[cid].secret_sha256 = clients.clients[cid].secret_sha256[-1:]
    else:
        del clients.clients[cid]
    write_clients_file(path, clients)
    if credential:
        print(f"{cid}: its credential (shown once; send it as Authorization: Bearer …):")
        print(credential)
    else:
        print(f"{cid}: {args.command}d in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
