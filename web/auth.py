"""Who may sign in to the web app: users and roles from a file, passwords hashed.

The users file (``FNO_WEB_USERS_FILE``, JSON; ``python -m web.users`` edits it)::

    {
      "purposes": {"caseworker": "casework on cases awaiting my role", ...},
      "users": {
        "sjones": {"name": "Sam Jones", "role": "caseworker",
                   "password_hash": "$argon2id$...", "purpose": null},
        "pquinn": {"name": "Pat Quinn", "role": "police_officer", "force": "hampshire",
                   "password_hash": "$argon2id$..."}
      }
    }

``force`` (optional; a police officer's is required) is the force code of the user's
police force, as custody events name it: a police officer reads their own force's
encounters only (``access.policy``). A signed-in user is the ``Principal``
``local:<username>`` (``Directory.principal``), the same identity the local token
issuer gives them.

``purposes`` are the default purpose of a read per role: opening a case page is a
consultation logged with its purpose (Data Protection Act 2018 s.62); a user whose
role has none (and who has no ``purpose`` of their own) is asked for one each time.
Passwords are hashed with Argon2id (``argon2-cffi``); the file holds no password.
The file is read again when it changes, so a user added or removed takes effect
without a restart (a removed user's session ends at their next request).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from identity.issuer import FailureThrottle
from identity.principal import Principal
from models.case import Role
from models.event import CustodyEvent

ROLES: tuple[str, ...] = get_args(Role)
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,39}$"
FORCE_PATTERN: str = CustodyEvent.model_json_schema()["properties"]["force"]["pattern"]
LOCAL_SUBJECT_PREFIX = "local:"  # the subject of a user of this file (as the local issuer's)
FORCE_ROLES = ("police_officer",)  # roles that need a force
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()


class UsersFileError(ValueError):
    """The users file is missing, unreadable or malformed."""


class User(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="Shown and recorded on cases.")
    role: str
    password_hash: str = Field(min_length=20)
    purpose: str | None = Field(default=None, max_length=2000)
    force: str | None = Field(
        default=None, pattern=FORCE_PATTERN, description="A police officer's force code."
    )

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        return role

    @model_validator(mode="after")
    def _force_of_police(self) -> User:
        if self.role in FORCE_ROLES and not self.force:
            raise ValueError(
                f"a {self.role.replace('_', ' ')} needs a force (the force code custody "
                'events name, e.g. "force": "hampshire")'
            )
        return self


class UsersFile(BaseModel):
    purposes: dict[str, str] = Field(default_factory=dict)
    users: dict[str, User] = Field(default_factory=dict)

    @field_validator("users")
    @classmethod
    def _usernames(cls, users: dict[str, User]) -> dict[str, User]:
        import re

        bad = [u for u in users if not re.match(USERNAME_PATTERN, u)]
        if bad:
            raise ValueError(
                f"{len(bad)} username(s) not of lower-case letters, digits, '.', '_' or '-' "
                "(2 to 40 characters)"
            )
        return users

    def purpose_of(self, username: str) -> str | None:
        """The default purpose of ``username``'s reads: their own, else their role's."""
        user = self.users.get(username)
        if user is None:
            return None
        return (user.purpose or self.purposes.get(user.role) or "").strip() or None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# Verified against when the username is unknown, so a sign-in takes as long either way.
_DUMMY_HASH = hash_password("not a password of anyone")


def read_users_file(path: Path) -> UsersFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsersFileError(f"cannot read the users file {path}: {err.strerror}") from None
    try:
        return UsersFile.model_validate(json.loads(text))
    except (ValueError, ValidationError) as err:
        raise UsersFileError(f"the users file {path} is malformed: {err}") from None


def write_users_file(path: Path, users: UsersFile) -> None:
    """Replace the file in one step (a reader never sees half of it), readable by its
    owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(users.model_dump_json(indent=2) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Directory:
    """The users file as the running app sees it: re-read when it changes."""

    path: Path
    _loaded: UsersFile = field(default_factory=UsersFile)
    _stamp: tuple[int, int] | None = None
    _fixed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, path: Path) -> Directory:
        directory = cls(path)
        directory.current()  # refuse a missing or malformed file at start-up
        return directory

    @classmethod
    def of(cls, users: UsersFile) -> Directory:
        """A fixed directory (tests): no file behind it."""
        return cls(Path(), _loaded=users, _fixed=True)

    def current(self) -> UsersFile:
        if self._fixed:
            return self._loaded
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._loaded = read_users_file(self.path)
                self._stamp = stamp
            return self._loaded

    def user(self, username: str) -> User | None:
        try:
            return self.current().users.get(username)
        except (OSError, UsersFileError):
            return None  # the file went away or broke: nobody is signed in

    def principal(self, username: str) -> Principal | None:
        """The signed-in user as the proven ``Principal`` every access function takes:
        subject ``local:<username>``, their name, role, force and default purpose; None
        when there is no such user (any more)."""
        try:
            users = self.current()
        except (OSError, UsersFileError):
            return None
        user = users.users.get(username)
        if user is None:
            return None
        return Principal(
            subject=f"{LOCAL_SUBJECT_PREFIX}{username}",
            name=user.name,
            role=user.role,
            force=user.force,
            reason=users.purpose_of(username),
        )

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise (in about the same time)."""
        user = self.user(username)
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user


# The sign-in throttle: one kind for the web app and the token endpoint (the server
# shares one instance between them, counting in the case store: web.config.use_store).
Throttle = FailureThrottle
