"""Replies pushed in (issue 22): the in-process world's timed delivery of a reply and
the safety net's run over outstanding ACRO checks. No personal data in any of them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from models.policy import Policy

DeliveryStatus = Literal["delivered", "duplicate", "kept_unknown", "kept_closed"]

# The in-process world's post office (tests; a worker without a world service): one
# workflow per request, ``world-reply-<request_ref>``, asleep until the reply is due.
REPLY_POST_WORKFLOW = "world_reply_delivery"
REPLY_POST_PREFIX = "world-reply-"

# The safety net: a Temporal Schedule runs this workflow (not one per case).
ACRO_RECONCILIATION_WORKFLOW = "acro_reply_reconciliation"
ACRO_RECONCILIATION_PREFIX = "fno-acro-reply-reconciliation"
ACRO_RECONCILIATION_SCHEDULE_ID = "fno-acro-reply-reconciliation"


class ReplyPost(BaseModel):
    """When the in-process world will have the reply to ``request_ref`` (its ``due_at``)."""

    request_ref: str
    due_at: datetime


class PostReply(BaseModel):
    request_ref: str
    as_of: datetime = Field(description="Workflow time: the world answers as of then.")


class ReplyReconcileInput(BaseModel):
    policy: Policy = Field(default_factory=Policy)


class ReplyReconcileRun(BaseModel):
    as_of: datetime
    grace_days: float
    horizon_days: float
    day_seconds: float
    limit: int = 1000


class ReplyReconcileReport(BaseModel):
    """Counts only: how many checks were asked about and what came of them."""

    asked: int = 0
    found: int = 0
    delivered: int = 0
    duplicate: int = 0
    kept: int = 0
    still_outstanding: int = 0
    failed: int = 0
