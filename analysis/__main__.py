"""``python -m analysis``: train (once) and cache the analysis models the default settings need.

The set-up script runs it so that neither the server nor the tests train the turn classifier
(``analysis.turn_classifier``); running it again finds the cached model and returns at once.
"""

from analysis.turn_classifier import main

if __name__ == "__main__":
    raise SystemExit(main())
