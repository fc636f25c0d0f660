"""A country's reply delivered to the case that asked (issue 22): the one function the
inbound route (``api.acro_replies``), the in-process world's post office and the safety
net (``activities.reply_steps``) all call.

``deliver_reply`` stores the certificate in the case store as a poll did
(``store_certificate``: document ``certificate-<request_ref>``, its collection logged),
then signals the workflow that made the request (``acro_request``, written by the
request activity: no visibility query) with the claim check only. Idempotent on the
reply's own ID (``acro_reply``): a repeat answers "duplicate" and does nothing new. A
reply to a request nobody recorded, or to a case that has closed, is kept (its row
and its certificate) with status ``kept_unknown`` / ``kept_closed`` and listed for a
supervisor (``access.stuck_replies``), never lost. A reply still being delivered (its
row not yet settled) when another delivery of it comes — the push racing the safety
net — is delivered again, as one that stopped half way would be: the case may get its
signal twice and takes it once (``workflows.acro``: a check already answered ignores it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.certificates import claim_check
from activities.gateways import CountryReply
from models.case import ACRO_REPLY_SIGNAL, CertificateRef, ReplyDelivered
from models.replies import DeliveryStatus
from store.cases import CaseStore

log = structlog.get_logger("fno.replies")

UNKNOWN_CASE = "acro-unknown-request"  # the case ID a reply nobody asked for is kept under


def certificate_id(request_ref: str) -> str:
    return f"certificate-{request_ref}"


def store_certificate(store: CaseStore, case_id: str, reply: CountryReply) -> CertificateRef:
    """The reply in the case store (once; its collection logged), and its claim check."""
    document_id = certificate_id(reply.request_ref)
    store.put_document(
        document_id,
        case_id,
        "acro_certificate",
        reply.model_dump(mode="json"),
        country=reply.country,
        purpose=reply.purpose,
        actor="ACRO",
        role="system",
        justification=f"country reply to ACRO request {reply.request_ref}",
    )
    return claim_check(document_id, reply)


def _received(store: CaseStore, reply: CountryReply) -> tuple[str | None, bool]:
    """The workflow that asked (None: nobody recorded the request) and whether this
    reply ID is new or still unsettled (a previous delivery stopped half way)."""
    request = store.acro_request(reply.request_ref)
    workflow_id = request.workflow_id if request is not None else None
    if store.receive_acro_reply(reply.reply_id, reply.request_ref, workflow_id):
        return workflow_id, True
    if workflow_id is not None and store.claim_kept_reply(
        reply.reply_id, workflow_id, certificate_id(reply.request_ref)
    ):
        return workflow_id, True  # it came before its request was recorded: delivered now
    row = store.acro_reply(reply.reply_id)
    return workflow_id, row is not None and row.status == "received"


def _taken_in(
    store: CaseStore, reply: CountryReply
) -> tuple[str | None, bool, CertificateRef | None]:
    """``_received`` and, for a new reply to a known request, its certificate stored:
    one hop to a thread for both (each thread hop is a cost on the route's path)."""
    workflow_id, new = _received(store, reply)
    if not new or workflow_id is None:
        return workflow_id, new, None
    return workflow_id, new, store_certificate(store, workflow_id, reply)


async def deliver_reply(store: CaseStore, client: Client, reply: CountryReply) -> DeliveryStatus:
    """Store ``reply`` and signal its case; the status (see the module's doc)."""
    if not reply.reply_id:
        raise ValueError("a reply needs ACRO's reply_id")
    workflow_id, new, cert = await asyncio.to_thread(_taken_in, store, reply)
    if not new:
        return "duplicate"
    now = datetime.now(UTC)
    if workflow_id is None:
        await asyncio.to_thread(store_certificate, store, UNKNOWN_CASE, reply)
        await asyncio.to_thread(store.settle_acro_reply, reply.reply_id, "kept_unknown", now)
        if await asyncio.to_thread(store.acro_request, reply.request_ref) is not None:
            # The request's row was written meanwhile (its activity ran as this reply
            # came): the reply is its after all.
            return await deliver_reply(store, client, reply)
        log.warning("reply to an unknown request kept", request_ref=reply.request_ref)
        return "kept_unknown"
    if cert is None:  # not so: _taken_in stored it for a new reply to a known request
        cert = await asyncio.to_thread(store_certificate, store, workflow_id, reply)
    signal = ReplyDelivered(
        request_ref=reply.request_ref, reply_id=reply.reply_id, certificate=cert
    )
    try:
        await client.get_workflow_handle(workflow_id).signal(ACRO_REPLY_SIGNAL, signal)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:  # an outage: the sender tries again
            raise
        await asyncio.to_thread(store.settle_acro_reply, reply.reply_id, "kept_closed", now)
        log.warning("reply to a closed case kept", request_ref=reply.request_ref)
        return "kept_closed"
    await asyncio.to_thread(store.settle_acro_reply, reply.reply_id, "delivered", now)
    log.info("reply delivered", request_ref=reply.request_ref, country=reply.country)
    return "delivered"
