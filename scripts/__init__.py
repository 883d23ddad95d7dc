"""Maintenance scripts (fixture generation, set-up); importable so benchmarks can reuse them."""
