"""Register the product's search attributes on a real Temporal cluster.

    python -m runtime.search_attributes      (or: make register-search-attributes)

Connects like the worker does (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``, ``TEMPORAL_PROFILE``) and adds every
attribute of ``models.search.SEARCH_ATTRIBUTES`` that the namespace lacks. Safe to
run again. The embedded dev server registers them itself at start-up.
"""

from __future__ import annotations

import os

from models.search import SEARCH_ATTRIBUTES
from runtime.config import connect
from runtime.embedded import register_search_attributes
from runtime.logs import configure_logging, get_logger
from runtime.shutdown import run_and_exit


async def main() -> int:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    log = get_logger("fno.search_attributes")
    client = await connect(encrypted=False)  # registers attributes, sends no payloads
    namespace = client.namespace
    try:
        added = await register_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
    except ValueError as err:
        log.error("search attribute conflict", namespace=namespace, error=str(err))
        return 1
    log.info(
        "search attributes registered",
        namespace=namespace,
        added=added,
        already_present=sorted({k.name for k in SEARCH_ATTRIBUTES} - set(added)),
    )
    return 0


if __name__ == "__main__":
    run_and_exit(main)
