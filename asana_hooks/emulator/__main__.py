"""``python -m asana_hooks.emulator``: serve a local Asana until SIGINT/SIGTERM."""

from asana_hooks.emulator.standalone import main

raise SystemExit(main())
