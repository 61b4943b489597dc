"""Tests of the local Asana emulator (asana_hooks.emulator)."""
