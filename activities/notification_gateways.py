"""The gateways of notifications out: the interfaces its activities talk through.

- ``NotificationChannel``: the EU states' channel (ECRIS through UK-CRIS): send a
  notification, collect the state's acknowledgement, chase.
- ``PncFeed``: ask the PNC to send a daily activity file again.

``sim.notifications.NotificationSimulator`` implements both; a real adapter implements
the same methods. As in ``activities.gateways``: a method that changes something takes
an idempotency key and does the change once per key; ``TransientGatewayError`` for
what a retry may cure, ``PermanentGatewayError`` for a refusal.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol


class NotificationChannel(Protocol):
    """ECRIS (UK-CRIS): notifications of convictions to EU states."""

    def send_notification(
        self,
        key: str,
        notification_id: str,
        country: str,
        channel: str,
        message: dict[str, Any],
        as_of: datetime,
    ) -> str: ...

    def fetch_acknowledgement(self, channel_ref: str, as_of: datetime) -> datetime | None: ...

    def send_notification_chaser(
        self, key: str, notification_id: str, channel_ref: str, chaser_number: int
    ) -> None: ...


class PncFeed(Protocol):
    """The PNC's daily activity files."""

    def request_file_resend(
        self, key: str, sequence: int, file_date: date | None, why: str
    ) -> None: ...
