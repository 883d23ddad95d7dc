"""``python -m analysis``: train (once) and cache the analysis models the default settings need.

The set-up script runs it so that neither the server nor the tests train the turn classifier
(``analysis.turn_classifier``), the decision acts (``analysis.decision_acts``) or the learned call state
(``analysis.call_state_training``); running it again finds the cached models and returns at once. It is
``analysis.backends.prepare_analysis_backend``, which ``audiohook-server --check-config`` also runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from analysis.backends import prepare_analysis_backend
from analysis.config import AnalysisConfig
from analysis.model_cache import default_analysis_cache_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description="Train (once) and cache the analysis models the defaults need."
    )
    parser.add_argument("--cache-dir", type=Path, help=f"default {default_analysis_cache_dir()}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    began = time.monotonic()
    prepared = prepare_analysis_backend(AnalysisConfig(cache_dir=args.cache_dir))
    print(f"analysis models ready in {time.monotonic() - began:.0f} s: {prepared}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
