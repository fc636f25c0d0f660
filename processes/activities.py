"""The worker's activities over the configured gateways: the simulator in this process
by default (tests), or the systems over the wire when ``FNO_WORLD_URL`` is set
(``runtime.config.WorldSettings``: the world service, ``python -m sim.service``, or a
real system in its protocol) — swapping one for the other is configuration only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.gateways import Gateways
from activities.notification_gateways import NotificationChannel, PncFeed
from activities.notifications import NotificationActivities
from activities.steps import CaseActivities
from adapters.http_client import HttpConfig
from adapters.notifications_http import http_notification_gateways
from adapters.world_http import http_gateways
from runtime.config import Settings, WorldSettings
from sim.notifications import NotificationSimulator, NotificationWorld
from sim.world import Simulator
from sim.world_file import load_world
from store.cases import CaseStore
from store.notifications import NotificationStore


def http_config(world: WorldSettings) -> HttpConfig:
    return HttpConfig(
        base_url=world.url,
        credential=world.credential,
        timeout=world.timeout,
        verify=world.verify,
        ca_bundle=world.ca_bundle,
        client_cert=world.client_cert,
        client_key=world.client_key,
    )


def build_gateways(settings: Settings, store: CaseStore) -> Gateways:
    """The case process's gateways: over the wire if configured, else the simulator
    on the case store's database (its ``sim_*`` tables)."""
    if settings.world is not None:
        return http_gateways(http_config(settings.world))
    sim = Simulator(
        store.engine,
        load_world(settings.world_file, settings.sim_seed),
        day_seconds=settings.policy.day_seconds,
        subject_key_secret=settings.subject_key_secret,
    )
    return Gateways.all_from(sim)


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """The worker's activities over the configured gateways (the simulator by default)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = CaseStore.current(settings.database_url)
    return CaseActivities(build_gateways(settings, store), store).all() + _notification_activities(
        settings, store
    )


def _notification_activities(settings: Settings, store: CaseStore) -> list[Callable[..., Any]]:
    """Notifications out: the EU states' channel and the PNC feed (simulated by default)."""
    channel: NotificationChannel
    feed: PncFeed
    if settings.world is not None:
        channel, feed = http_notification_gateways(http_config(settings.world))
    else:
        sim = NotificationSimulator(
            store.engine,
            NotificationWorld(seed=settings.sim_seed),
            day_seconds=settings.policy.day_seconds,
        )
        channel, feed = sim, sim
    return NotificationActivities(channel, feed, NotificationStore(store.engine), store).all()
