"""The HTTP API (FastAPI): the same operations as ``fno``, for systems and the web."""
