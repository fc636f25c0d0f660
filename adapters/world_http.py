"""The gateways of ``activities.gateways`` (and of Stage 1 to removal,
``activities.deportation_steps.DeportationGateway``, and of notifications out,
``activities.notification_gateways``) over HTTP, in the world service's protocol
(``sim.wire``: ``POST /<system>/<method>`` with an ``Idempotency-Key`` for a
side-effecting call, ``GET`` for a read). The simulator as a service
(``python -m sim.service``) speaks it; so may a real system's facade. Errors as
``adapters.http_client`` maps them.

``http_gateways(config)`` is the worker's set of gateways when ``FNO_WORLD_URL`` is set
(``processes.activities``); each system may be its own service (its own config).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from activities.gateways import CountryReply, FurtherDetails, Gateways
from adapters.http_client import HttpConfig, HttpSystem


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


class AcroHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def request_check(
        self,
        key: str,
        case_id: str,
        subject_key: str,
        country: str,
        purpose: str,
        as_of: datetime,
        details: dict[str, Any],
    ) -> str:
        return str(
            self.http.write(
                "/acro/request_check",
                key,
                case_id=case_id,
                subject_key=subject_key,
                country=country,
                purpose=purpose,
                as_of=as_of,
                details=details,
            )
        )

    def fetch_reply(self, request_ref: str, as_of: datetime) -> CountryReply | None:
        found = self.http.read("/acro/fetch_reply", request_ref=request_ref, as_of=as_of)
        return None if found is None else CountryReply.model_validate(found)

    def replies_sent(self, since: datetime, until: datetime) -> list[str]:
        return [str(r) for r in self.http.read("/acro/replies_sent", since=since, until=until)]

    def send_chaser(self, key: str, request_ref: str, chaser_number: int) -> None:
        self.http.write(
            "/acro/send_chaser", key, request_ref=request_ref, chaser_number=chaser_number
        )

    def destroy_certificate(self, request_ref: str) -> None:
        self.http.write(
            "/acro/destroy_certificate", f"destroy:{request_ref}", request_ref=request_ref
        )

    def advise_deportation_not_pursued(self, key: str, subject_key: str) -> None:
        self.http.write("/acro/advise_deportation_not_pursued", key, subject_key=subject_key)

    def request_further_details(self, key: str, request_ref: str, as_of: datetime) -> str:
        return str(
            self.http.write(
                "/acro/request_further_details", key, request_ref=request_ref, as_of=as_of
            )
        )

    def fetch_further_details(self, details_ref: str, as_of: datetime) -> FurtherDetails | None:
        found = self.http.read("/acro/fetch_further_details", details_ref=details_ref, as_of=as_of)
        return None if found is None else FurtherDetails.model_validate(found)

    def send_further_details_chaser(self, key: str, details_ref: str, chaser_number: int) -> None:
        self.http.write(
            "/acro/send_further_details_chaser",
            key,
            details_ref=details_ref,
            chaser_number=chaser_number,
        )

    def request_further_check(self, key: str, subject_key: str, as_of: datetime) -> str:
        return str(
            self.http.write(
                "/acro/request_further_check", key, subject_key=subject_key, as_of=as_of
            )
        )

    def advise_acro_appeal_allowed(self, key: str, subject_key: str) -> str:
        return str(
            self.http.write("/acro/advise_acro_appeal_allowed", key, subject_key=subject_key)
        )


class PoliceHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def request_identity_data(
        self, key: str, subject_key: str, officer_email: str, fields: list[str]
    ) -> None:
        self.http.write(
            "/police/request_identity_data",
            key,
            subject_key=subject_key,
            officer_email=officer_email,
            fields=fields,
        )

    def contact_investigating_officer(self, key: str, case_id: str, subject_key: str) -> None:
        self.http.write(
            "/police/contact_investigating_officer", key, case_id=case_id, subject_key=subject_key
        )

    def tell_investigating_officer(self, key: str, case_id: str, subject_key: str) -> str:
        return str(
            self.http.write(
                "/police/tell_investigating_officer",
                key,
                case_id=case_id,
                subject_key=subject_key,
            )
        )


class PncHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def record_convictions(
        self, key: str, subject_key: str, pnc_id: str | None, offences: list[str]
    ) -> int:
        return int(
            self.http.write(
                "/pnc/record_convictions",
                key,
                subject_key=subject_key,
                pnc_id=pnc_id,
                offences=offences,
            )
        )

    def offences_on_record(self, subject_key: str, offences: list[str]) -> bool:
        return bool(
            self.http.read("/pnc/offences_on_record", subject_key=subject_key, offences=offences)
        )

    def request_pnc_check(self, key: str, subject_key: str) -> str:
        return str(self.http.write("/pnc/request_pnc_check", key, subject_key=subject_key))

    def add_wanted_marker(self, key: str, subject_key: str) -> str:
        return str(self.http.write("/pnc/add_wanted_marker", key, subject_key=subject_key))

    def remove_wanted_marker(self, key: str, subject_key: str) -> str:
        return str(self.http.write("/pnc/remove_wanted_marker", key, subject_key=subject_key))

    def pnc_print(self, key: str, subject_key: str) -> list[str]:
        return [str(c) for c in self.http.write("/pnc/pnc_print", key, subject_key=subject_key)]


class CidHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def create_case(
        self, key: str, subject_key: str, nationality: str, offences: list[str]
    ) -> tuple[str, bool]:
        ref, created = self.http.write(
            "/cid/create_case",
            key,
            subject_key=subject_key,
            nationality=nationality,
            offences=offences,
        )
        return str(ref), bool(created)

    def add_calendar_event(self, key: str, cid_ref: str, event: str, status: str) -> None:
        self.http.write("/cid/add_calendar_event", key, cid_ref=cid_ref, event=event, status=status)

    def add_note(self, key: str, subject_key: str, text: str) -> None:
        self.http.write("/cid/add_note", key, subject_key=subject_key, text=text)

    def record_outcome(self, key: str, subject_key: str, outcome: str) -> None:
        self.http.write("/cid/record_outcome", key, subject_key=subject_key, outcome=outcome)

    def create_paper_file(self, key: str, subject_key: str) -> str:
        return str(self.http.write("/cid/create_paper_file", key, subject_key=subject_key))


class NbtcHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def departure_check(self, subject_key: str, as_of: datetime) -> tuple[bool, str | None]:
        left, departed = self.http.read(
            "/nbtc/departure_check", subject_key=subject_key, as_of=as_of
        )
        return bool(left), None if departed is None else str(departed)


class IceHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def task_to_locate(self, key: str, subject_key: str, as_of: datetime) -> str:
        return str(
            self.http.write("/ice/task_to_locate", key, subject_key=subject_key, as_of=as_of)
        )

    def tasking_status(self, tasking_ref: str, as_of: datetime) -> str:
        return str(self.http.read("/ice/tasking_status", tasking_ref=tasking_ref, as_of=as_of))

    def request_detention(self, key: str, subject_key: str) -> str:
        return str(self.http.write("/ice/request_detention", key, subject_key=subject_key))

    def request_detention_with_evidence(self, key: str, subject_key: str, evidence_ref: str) -> str:
        return str(
            self.http.write(
                "/ice/request_detention_with_evidence",
                key,
                subject_key=subject_key,
                evidence_ref=evidence_ref,
            )
        )


class CorrespondenceHttp:
    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def serve_notice(self, key: str, subject_key: str, notice: str, response_days: int) -> str:
        return str(
            self.http.write(
                "/correspondence/serve_notice",
                key,
                subject_key=subject_key,
                notice=notice,
                response_days=response_days,
            )
        )

    def submit_to_director(self, key: str, subject_key: str) -> str:
        return str(
            self.http.write("/correspondence/submit_to_director", key, subject_key=subject_key)
        )

    def refer_to_removals_casework(self, key: str, subject_key: str) -> str:
        return str(
            self.http.write(
                "/correspondence/refer_to_removals_casework", key, subject_key=subject_key
            )
        )

    def notify(self, key: str, subject_key: str, recipients: list[str], subject_line: str) -> None:
        self.http.write(
            "/correspondence/notify",
            key,
            subject_key=subject_key,
            recipients=recipients,
            subject_line=subject_line,
        )

    def serve_notice_by(
        self, key: str, subject_key: str, notice: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]:
        ref, served = self.http.write(
            "/correspondence/serve_notice_by",
            key,
            subject_key=subject_key,
            notice=notice,
            means=means,
            as_of=as_of,
        )
        return str(ref), _when(served)

    def serve_deportation_order(
        self, key: str, subject_key: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]:
        ref, served = self.http.write(
            "/correspondence/serve_deportation_order",
            key,
            subject_key=subject_key,
            means=means,
            as_of=as_of,
        )
        return str(ref), _when(served)

    def submit_to_director_with(self, key: str, subject_key: str, document_id: str) -> str:
        return str(
            self.http.write(
                "/correspondence/submit_to_director_with",
                key,
                subject_key=subject_key,
                document_id=document_id,
            )
        )

    def notify_with_refs(
        self, key: str, subject_key: str, recipients: list[str], subject_line: str
    ) -> dict[str, str]:
        refs = self.http.write(
            "/correspondence/notify_with_refs",
            key,
            subject_key=subject_key,
            recipients=recipients,
            subject_line=subject_line,
        )
        return {str(k): str(v) for k, v in refs.items()}


def http_gateways(config: HttpConfig) -> Gateways:
    """Every system of the case process over one service (mypy checks each adapter
    against its protocol here)."""
    http = HttpSystem(config)
    return Gateways(
        acro=AcroHttp(http),
        police=PoliceHttp(http),
        pnc=PncHttp(http),
        cid=CidHttp(http),
        nbtc=NbtcHttp(http),
        ice=IceHttp(http),
        correspondence=CorrespondenceHttp(http),
    )
