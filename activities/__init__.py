"""Activities and the gateways they talk through."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activities.store import CaseStore
    from runtime.config import Settings


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The worker's activities over the configured gateways (the simulator by default)."""
    from activities.gateways import Gateways
    from activities.simulator import Simulator, load_world
    from activities.steps import CaseActivities
    from activities.store import CaseStore

    settings.home.mkdir(parents=True, exist_ok=True)
    store = CaseStore.current(settings.database_url)
    sim = Simulator(
        store.engine,
        load_world(settings.world_file, settings.sim_seed),
        day_seconds=settings.policy.day_seconds,
        subject_key_secret=settings.subject_key_secret,
    )
    return CaseActivities(Gateways.all_from(sim), store).all() + _notification_activities(
        settings, store
    )


def _notification_activities(settings: Settings, store: CaseStore) -> list[Callable[..., Any]]:
    """Notifications out: the EU states' channel and the PNC feed (simulated by default)."""
    from activities.notification_simulator import NotificationSimulator, NotificationWorld
    from activities.notification_store import NotificationStore
    from activities.notifications import NotificationActivities

    sim = NotificationSimulator(
        store.engine,
        NotificationWorld(seed=settings.sim_seed),
        day_seconds=settings.policy.day_seconds,
    )
    return NotificationActivities(sim, sim, NotificationStore(store.engine), store).all()
