"""The signals that stop a long-running command (listen, serve, emulator) cleanly."""

from __future__ import annotations

import signal

__all__ = ["STOP_SIGNALS"]

#: SIGHUP too: closing the terminal sends it, and a listener should still delete its webhook.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
