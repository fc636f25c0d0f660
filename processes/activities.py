"""The worker's activities over the configured gateways (the simulator by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.gateways import Gateways
from activities.notifications import NotificationActivities
from activities.steps import CaseActivities
from runtime.config import Settings
from sim.notifications import NotificationSimulator, NotificationWorld
from sim.world import Simulator
from sim.world_file import load_world
from store.cases import CaseStore
from store.notifications import NotificationStore


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The worker's activities over the configured gateways (the simulator by default)."""
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
    sim = NotificationSimulator(
        store.engine,
        NotificationWorld(seed=settings.sim_seed),
        day_seconds=settings.policy.day_seconds,
    )
    return NotificationActivities(sim, sim, NotificationStore(store.engine), store).all()
