"""Tests of the offline tooling in benchmarks/ (not part of the installed packages)."""
