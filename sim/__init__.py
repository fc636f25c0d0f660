"""Simulations run against real Temporal servers (see each module)."""
