"""Benchmarks, run by hand (CI runs the tests): they print their numbers and the machine."""
