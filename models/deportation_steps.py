"""What the steps of Stage 1 to removal send to other systems and get back (issue 21,
DOMAIN.md step 10): the Stage 1 notice served on the case owner's instruction (its
means; the service time comes back), the deportation order, ICE asked to detain with
the disclosable evidence's reference, the submission to the CC Director (its reasons
stored in the case store, the workflow keeps the document's ID), and the notifications
after removal, each with the reference the other system gave.

The submission's reasons are a caseworker's own words: they travel encrypted (the
payload codec) into the case store, never into a log line.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.steps import Step


class NoticeService(Step):
    """Serve a notice (Stage 1, the deportation order) by ``means``."""

    subject_key: str
    notice: str
    means: str
    response_days: int | None = None


class ServedNotice(BaseModel):
    ref: str
    served_at: datetime


class IceDetentionRequest(Step):
    """ICE asked to detain, the disclosable certificates' document IDs as the evidence."""

    subject_key: str
    evidence_document_ids: list[str] = Field(default_factory=list)


class Submission(Step):
    """The submission to the CC Director that deportation is not pursued, with reasons."""

    subject_key: str
    reasons: str
    author: str


class SubmissionSent(BaseModel):
    document_id: str
    ref: str


class NotificationsSent(BaseModel):
    """Recipient → the reference of what was sent to them."""

    refs: dict[str, str]
