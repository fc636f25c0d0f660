"""``GET /me``: who the credential proves (``fno whoami``, and ``fno login`` after it
has a token): the principal, without its default purpose, and when the token expires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi import APIRouter

from api.deps import BearerD, CallerD

router = APIRouter()


@router.get("/me")
async def me(who: CallerD, bearer: BearerD) -> dict[str, Any]:
    """The proven caller; ``expires_at`` (UTC) of a person's token, None for a system."""
    expires_at = None
    if not who.is_system and bearer is not None:
        # Verified already (``caller``): read back its expiry only.
        exp = jwt.decode(bearer.credentials, options={"verify_signature": False}).get("exp")
        if isinstance(exp, int | float):
            expires_at = datetime.fromtimestamp(exp, UTC).isoformat()
    return who.model_dump(mode="json", exclude={"reason"}) | {"expires_at": expires_at}
