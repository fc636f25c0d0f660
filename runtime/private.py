"""Local mode, and keeping a process's files its owner's only.

Local mode (``local_mode``): ``make run`` and the tests set ``FNO_LOCAL_MODE=1``. Only
there may a process make up its own secrets (subject key, web session secret, codec and
front-door keys) or relax what a deployment must have (Secure cookies, HSTS). Anywhere
else it is production, and a missing secret stops start-up (``runtime.config``).

Private files: everything the product writes under ``FNO_HOME`` (the case store and
its ``-wal``/``-shm``, keys, the embedded server's database and log) holds personal
data or secrets. A process sets umask 077 at start (``private_files``, from
``Settings.from_env``), FNO_HOME is 0700 (tightened if it exists), key files and
databases get explicit 0600 modes where they are made.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

LOCAL_MODE_ENV = "FNO_LOCAL_MODE"
PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def local_mode(env: Mapping[str, str] | None = None) -> bool:
    """True when ``FNO_LOCAL_MODE=1`` (``make run``, the tests): see the module docstring."""
    value = (os.environ if env is None else env).get(LOCAL_MODE_ENV, "").strip()
    return value == "1"


def private_files(home: Path | None = None) -> None:
    """Make what this process writes its owner's only: umask 077 for the process (every
    file and folder it creates from now on: 0600 and 0700), and ``home`` (FNO_HOME),
    when it exists and is ours, tightened to 0700."""
    os.umask(PRIVATE_UMASK)
    if home is not None:
        tighten(home, PRIVATE_DIR_MODE)


def ensure_private_dir(path: Path) -> Path:
    """``path`` (and missing parents) created 0700, or tightened to 0700 if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    tighten(path, PRIVATE_DIR_MODE)
    return path


def ensure_private_file(path: Path) -> Path:
    """``path`` created empty with mode 0600 unless it exists; tightened to 0600 if it
    does. For files another program then opens (SQLite, the dev server's database)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(path, PRIVATE_FILE_MODE)
    else:
        os.close(fd)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take away from ``path`` every permission ``mode`` does not give, if it exists and
    this process owns it (someone else's file is left for its owner to fix)."""
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_uid != os.getuid():
        return
    current = stat.S_IMODE(info.st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)
