"""Runnable examples of asana_hooks; each is a script and an importable module with ``main``."""
