"""A local Asana for webhooks: an independent oracle that imports nothing else from asana_hooks.

`Emulator` serves Asana's webhook routes on loopback (create with a real handshake while the request
is held open, list with pagination, get, update, delete), a small world of workspaces, projects,
tasks and comments whose changes become signed, batched event deliveries, Asana's rate limits, and
injectable faults. Time-driven behaviour (retries, 8-hourly heartbeats, deletion after 24 h of
failures) follows an injectable `Clock`; `ManualClock` lets a test pass a day in milliseconds::

    clock = ManualClock()
    async with Emulator(clock=clock) as emu:
        ...  # create a webhook against emu.base_url with emu.token
        clock.advance(8 * 3600)
        await emu.wait_idle()  # the heartbeat has been delivered
"""

from asana_hooks.emulator.clock import Clock, ManualClock, SystemClock
from asana_hooks.emulator.dispatcher import DeliveryRecord
from asana_hooks.emulator.faults import Faults
from asana_hooks.emulator.service import Emulator
from asana_hooks.emulator.webhooks import Webhook
from asana_hooks.emulator.world import World

__all__ = [
    "Clock",
    "DeliveryRecord",
    "Emulator",
    "Faults",
    "ManualClock",
    "SystemClock",
    "Webhook",
    "World",
]
