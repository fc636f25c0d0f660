"""Who the product phase is to its HTTP API: the bench's custody system (a scoped system
credential) and the bench's caseworker (a user of the local issuer, who signs in for a
token like anyone), made afresh in the phase's own folder."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from identity.clients import ClientsFile, SystemClient, dump_clients, new_secret
from web.auth import User, UsersFile, hash_password, write_users_file

CUSTODY_CLIENT = "bench-custody"
CASEWORKER = "bench"


@dataclass
class BenchIdentity:
    env: dict[str, str]  # for the HTTP API
    custody: dict[str, str]  # the custody system's headers
    password: str

    async def caseworker(self, http: httpx.AsyncClient) -> dict[str, str]:
        """The bench caseworker's headers: a token from the local issuer."""
        form = {"grant_type": "password", "username": CASEWORKER, "password": self.password}
        answer = await http.post("/auth/token", data=form)
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def bench_identity(home: Path, force: str) -> BenchIdentity:
    """A users file with the bench caseworker, and the custody system for ``force``."""
    password = secrets.token_urlsafe(16)
    users = UsersFile(
        users={
            CASEWORKER: User(
                name="Bench Caseworker", role="caseworker", password_hash=hash_password(password)
            )
        }
    )
    write_users_file(home / "web-users.json", users)
    clients = ClientsFile(
        clients={
            CUSTODY_CLIENT: SystemClient(
                name="bench custody system",
                secret_sha256=["0" * 64],  # replaced by the new secret's on the next line
                scopes=["custody-events"],
                forces=[force],
            )
        }
    )
    credential = new_secret(clients, CUSTODY_CLIENT, keep_old=False)
    env = {
        "FNO_LOCAL_ISSUER": "1",
        "FNO_LOCAL_TOKEN_MINUTES": "1440",  # a long run outlasts the usual hour
        "FNO_WEB_USERS_FILE": str(home / "web-users.json"),
        "FNO_WEB_SECRET": secrets.token_urlsafe(32),
        "FNO_API_CLIENTS": dump_clients(clients),
    }
    return BenchIdentity(env, {"Authorization": f"Bearer {credential}"}, password)
