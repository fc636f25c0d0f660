"""Leaving a process that used a Temporal client.

The SDK's Rust core keeps threads that can outlive the event loop; when CPython
then finalises, the process may abort with ``Fatal Python error: PyGILState_Release``
(exit code -6 / 134) even though its work succeeded (temporalio/sdk-python#300).
Short-lived commands therefore flush and leave with ``os._exit`` after their
``asyncio.run`` returned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from runtime.codec import CodecConfigError


def exit_now(code: int = 0) -> NoReturn:
    """Flush logs and stdio, then end the process without interpreter teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_and_exit(main: Callable[[], Coroutine[Any, Any, int | None]]) -> NoReturn:
    """``asyncio.run(main())`` then ``exit_now`` with its result (1 on an exception)."""
    try:
        code = asyncio.run(main()) or 0
    except KeyboardInterrupt:
        code = 130
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except CodecConfigError as err:  # no (or bad) payload encryption keys: say what to set
        logging.getLogger("fno").error("refused to start: %s", err)
        code = 2
    except BaseException:
        logging.getLogger("fno").exception("fatal error")
        code = 1
    exit_now(code)
