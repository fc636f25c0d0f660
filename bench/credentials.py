"""Who the product phase is to its HTTP API: the bench's custody system (a scoped system
credential) and the bench's caseworker (a user of the local issuer, who signs in for a
token like anyone), made afresh in the phase's own folder."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from identity.clients import ClientsFile, add_client, dump_clients
from web.auth import User, UsersFile, hash_password, write_users_file

CUSTODY_CLIENT = "bench-custody"
ACRO_CLIENT = "bench-acro"  # issue 22: the world service pushes ACRO's replies as it
CASEWORKER = "bench"
MANAGER = "bench-manager"  # issue 21: a CC manager allocates each located case


@dataclass
class BenchIdentity:
    env: dict[str, str]  # for the HTTP API
    custody: dict[str, str]  # the custody system's headers
    password: str
    acro_credential: str = ""  # ``<client_id>.<secret>`` of the ACRO system (scope acro-replies)

    async def caseworker(
        self, http: httpx.AsyncClient, username: str = CASEWORKER
    ) -> dict[str, str]:
        """The bench caseworker's headers (or ``username``'s): a local issuer's token."""
        form = {"grant_type": "password", "username": username, "password": self.password}
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
            ),
            MANAGER: User(
                name="Bench Manager", role="cc_manager", password_hash=hash_password(password)
            ),
        }
    )
    write_users_file(home / "web-users.json", users)
    clients = ClientsFile()
    credential = add_client(
        clients,
        CUSTODY_CLIENT,
        name="bench custody system",
        scopes=["custody-events"],
        forces=[force],
    )
    acro = add_client(clients, ACRO_CLIENT, name="bench ACRO", scopes=["acro-replies"])
    env = {
        "FNO_LOCAL_ISSUER": "1",
        "FNO_LOCAL_TOKEN_MINUTES": "1440",  # a long run outlasts the usual hour
        "FNO_WEB_USERS_FILE": str(home / "web-users.json"),
        "FNO_WEB_SECRET": secrets.token_urlsafe(32),
        "FNO_API_CLIENTS": dump_clients(clients),
    }
    return BenchIdentity(env, {"Authorization": f"Bearer {credential}"}, password, acro)
