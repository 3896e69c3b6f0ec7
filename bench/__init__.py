"""Benchmarks: `python -m bench` runs them all; `python -m bench.<name> [--size N]` runs one (see STYLE.md)."""
