"""Notifications out over HTTP, in the world service's protocol (``sim.wire``): ECRIS
(``activities.notification_gateways.NotificationChannel``) and the PNC feed
(``PncFeed``). The rest of the systems are ``adapters.world_http``'s."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from activities.notification_gateways import NotificationChannel, PncFeed
from adapters.http_client import HttpConfig, HttpSystem


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


class NotificationChannelHttp:
    """ECRIS (``activities.notification_gateways.NotificationChannel``)."""

    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def send_notification(
        self,
        key: str,
        notification_id: str,
        country: str,
        channel: str,
        message: dict[str, Any],
        as_of: datetime,
    ) -> str:
        return str(
            self.http.write(
                "/ecris/send_notification",
                key,
                notification_id=notification_id,
                country=country,
                channel=channel,
                message=message,
                as_of=as_of,
            )
        )

    def fetch_acknowledgement(self, channel_ref: str, as_of: datetime) -> datetime | None:
        found = self.http.read("/ecris/fetch_acknowledgement", channel_ref=channel_ref, as_of=as_of)
        return None if found is None else _when(found)

    def send_notification_chaser(
        self, key: str, notification_id: str, channel_ref: str, chaser_number: int
    ) -> None:
        self.http.write(
            "/ecris/send_notification_chaser",
            key,
            notification_id=notification_id,
            channel_ref=channel_ref,
            chaser_number=chaser_number,
        )


class PncFeedHttp:
    """The PNC's daily files (``activities.notification_gateways.PncFeed``)."""

    def __init__(self, http: HttpSystem) -> None:
        self.http = http

    def request_file_resend(
        self, key: str, sequence: int, file_date: date | None, why: str
    ) -> None:
        self.http.write(
            "/pnc_feed/request_file_resend", key, sequence=sequence, file_date=file_date, why=why
        )


def http_notification_gateways(config: HttpConfig) -> tuple[NotificationChannel, PncFeed]:
    """ECRIS and the PNC feed over the same protocol."""
    http = HttpSystem(config)
    return NotificationChannelHttp(http), PncFeedHttp(http)
