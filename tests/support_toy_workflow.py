"""A toy workflow whose histories, recorded by temporalio 1.35.0 without
``workflows.activation_order``, show the orders the SDK writes when a workflow task
brings an update with other events (tests/test_activation_order.py)."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def noop(x: str) -> str:
    return x


@workflow.defn
class Toy:
    def __init__(self) -> None:
        self.ticks = 0
        self.log: list = []
        self.signals = 0

    @workflow.run
    async def run(self, mode: str) -> list:
        if mode == "timer":
            await asyncio.sleep(3)
            self.ticks += 1
            await asyncio.sleep(0.5)  # a command issued right after the timer
        elif mode == "timer_validator":
            await asyncio.sleep(3)
            self.ticks += 1
            await asyncio.sleep(0.5)
        elif mode == "activity":
            await workflow.execute_activity(noop, "a", start_to_close_timeout=timedelta(seconds=10))
            self.ticks += 1
            await asyncio.sleep(0.5)
        elif mode in ("signal_update", "update_signal"):
            pass
        elif mode == "signal_wakes":
            await workflow.wait_condition(lambda: self.signals >= 1)
            await asyncio.sleep(0.5)  # a command from the main coroutine, woken by the signal
        elif mode == "complete":
            await asyncio.sleep(3)
            self.ticks += 1
            return self.log
        await workflow.wait_condition(
            lambda: (
                len(self.log) >= 1
                and (mode not in ("signal_update", "update_signal") or self.signals >= 1)
            )
        )
        return self.log

    @workflow.signal
    async def poke(self) -> None:
        self.signals += 1
        await asyncio.sleep(0.2)  # a command from the signal handler

    @workflow.signal
    def poke_sync(self) -> None:
        self.signals += 1

    @workflow.update
    async def decide(self, x: str) -> int:
        self.log.append([x, self.ticks, self.signals])
        return self.ticks

    @decide.validator
    def _v(self, x: str) -> None:
        if x == "needs_tick" and self.ticks == 0:
            raise ValueError("too early")
