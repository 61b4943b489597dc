"""``python -m asana_hooks``: the same as the ``asana-hooks`` command."""

from __future__ import annotations

from asana_hooks.cli import main

raise SystemExit(main())
