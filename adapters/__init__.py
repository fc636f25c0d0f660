"""Adapters of the gateway protocols (``activities.gateways``) to real systems over the
wire. ``adapters.world_http``: the world service's protocol (``sim.wire``), over httpx."""
