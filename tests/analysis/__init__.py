"""Tests of the analysis package, one module per module of analysis/."""
