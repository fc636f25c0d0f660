"""Interfaces to the systems outside: ACRO and the countries, PNC, CID, NBTC, ICE,
the police and Home Office correspondence.

Activities are thin adapters over these; the simulator implements all of them, and
a real adapter implements the same methods. Every method that changes something
takes an idempotency key and must do the change once per key, returning the same
answer to a repeated call.

Errors: raise ``TransientGatewayError`` for what a retry may cure (timeouts,
outages); ``PermanentGatewayError`` for a refusal a retry will not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field


class TransientGatewayError(Exception):
    """A fault a retry may cure: timeout, outage, throttling."""


class PermanentGatewayError(Exception):
    """A refusal a retry will not change; the case shows it and waits for a person."""


class ConvictionRecord(BaseModel):
    offence: str
    description: str
    convicted_on: str | None = None
    court: str | None = None
    sentence: str | None = None
    recordable_on_pnc: bool = True


class CountryReply(BaseModel):
    """A country's answer as ACRO passes it on: the certificate.

    ``reply_id`` is ACRO's own identifier of this reply (issue 22): a reply delivered
    twice (pushed, and found again by the safety net) is the same reply."""

    reply_id: str = ""
    request_ref: str
    country: str
    purpose: Literal["criminal_proceedings", "immigration_deportation"]
    replied_at: datetime
    convictions: list[ConvictionRecord] = Field(default_factory=list)
    text: str = ""


# issue 20 (h2): further details of a reply, asked of the country -------------------
class ConvictionDetail(BaseModel):
    """The nature of one conviction, as the country states it when asked further."""

    offence: str
    convicted_on: str | None = None
    sentence: str | None = None
    nature: str = ""


class FurtherDetails(BaseModel):
    """The country's supplement to a reply: the nature of the offences."""

    details_ref: str
    request_ref: str
    country: str
    replied_at: datetime
    convictions: list[ConvictionDetail] = Field(default_factory=list)
    text: str = ""


class AcroGateway(Protocol):
    def request_check(
        self,
        key: str,
        case_id: str,
        subject_key: str,
        country: str,
        purpose: str,
        as_of: datetime,
        details: dict[str, Any],
    ) -> str: ...

    def fetch_reply(self, request_ref: str, as_of: datetime) -> CountryReply | None: ...

    # issue 22: ACRO's own log, for the safety net: the requests whose replies it sent
    # (pushed) between two moments, however their delivery went.
    def replies_sent(self, since: datetime, until: datetime) -> list[str]: ...

    def send_chaser(self, key: str, request_ref: str, chaser_number: int) -> None: ...

    def destroy_certificate(self, request_ref: str) -> None: ...

    def advise_deportation_not_pursued(self, key: str, subject_key: str) -> None: ...

    # issue 20 (h2): further details (once per key; the same reference to a repeat)
    def request_further_details(self, key: str, request_ref: str, as_of: datetime) -> str: ...

    def fetch_further_details(self, details_ref: str, as_of: datetime) -> FurtherDetails | None: ...

    def send_further_details_chaser(
        self, key: str, details_ref: str, chaser_number: int
    ) -> None: ...

    # issue 21 (h1): a further check, where the subject may have offended abroad since
    def request_further_check(self, key: str, subject_key: str, as_of: datetime) -> str: ...


class PoliceGateway(Protocol):
    def request_identity_data(
        self, key: str, subject_key: str, officer_email: str, fields: list[str]
    ) -> None: ...

    def contact_investigating_officer(self, key: str, case_id: str, subject_key: str) -> None: ...

    # issue 21 (h1): told of CC's interest; the contact's reference
    def tell_investigating_officer(self, key: str, case_id: str, subject_key: str) -> str: ...


class PncGateway(Protocol):
    def record_convictions(
        self, key: str, subject_key: str, pnc_id: str | None, offences: list[str]
    ) -> int: ...

    def offences_on_record(self, subject_key: str, offences: list[str]) -> bool: ...

    def request_pnc_check(self, key: str, subject_key: str) -> str: ...

    def add_wanted_marker(self, key: str, subject_key: str) -> str: ...

    def remove_wanted_marker(self, key: str, subject_key: str) -> str: ...

    # issue 21 (h1): the offence codes on the subject's PNC record (its print)
    def pnc_print(self, key: str, subject_key: str) -> list[str]: ...


class CidGateway(Protocol):
    def create_case(
        self, key: str, subject_key: str, nationality: str, offences: list[str]
    ) -> tuple[str, bool]: ...

    def add_calendar_event(self, key: str, cid_ref: str, event: str, status: str) -> None: ...

    def add_note(self, key: str, subject_key: str, text: str) -> None: ...

    def record_outcome(self, key: str, subject_key: str, outcome: str) -> None: ...

    def create_paper_file(self, key: str, subject_key: str) -> str: ...


class NbtcGateway(Protocol):
    def departure_check(self, subject_key: str, as_of: datetime) -> tuple[bool, str | None]: ...


class IceGateway(Protocol):
    def task_to_locate(self, key: str, subject_key: str, as_of: datetime) -> str: ...

    def tasking_status(self, tasking_ref: str, as_of: datetime) -> str: ...

    def request_detention(self, key: str, subject_key: str) -> str: ...


class CorrespondenceGateway(Protocol):
    """Home Office notices, submissions and notifications."""

    def serve_notice(self, key: str, subject_key: str, notice: str, response_days: int) -> str: ...

    def submit_to_director(self, key: str, subject_key: str) -> str: ...

    def refer_to_removals_casework(self, key: str, subject_key: str) -> str: ...

    def notify(
        self, key: str, subject_key: str, recipients: list[str], subject_line: str
    ) -> None: ...


class OutsideWorld(
    AcroGateway,
    PoliceGateway,
    PncGateway,
    CidGateway,
    NbtcGateway,
    IceGateway,
    CorrespondenceGateway,
    Protocol,
):
    """One object that plays every system (the simulator, ``sim.world.Simulator``)."""


@dataclass
class Gateways:
    """The set of systems one worker talks to, each typed by its protocol (so mypy
    checks an adapter where it is put here); nothing is checked at run time."""

    acro: AcroGateway
    police: PoliceGateway
    pnc: PncGateway
    cid: CidGateway
    nbtc: NbtcGateway
    ice: IceGateway
    correspondence: CorrespondenceGateway

    @classmethod
    def all_from(cls, world: OutsideWorld) -> Gateways:
        """Every system from one object that plays them all (the simulator)."""
        return cls(
            acro=world,
            police=world,
            pnc=world,
            cid=world,
            nbtc=world,
            ice=world,
            correspondence=world,
        )
