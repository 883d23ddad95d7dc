"""The call core: one per call, whatever the door, and the exports it writes.

`CallCore` (core.py) takes a call's audio, runs it through each channel's speech pipeline, publishes
the finals in order with their analysis, and writes the exports (`SessionFiles`: CSV, journal,
recording, summary, session record, and the call's row of the shared `calls.csv`: `call_record`,
`calls_csv`), flushing everything on every kind of ending. It depends only on
the small interfaces in `ports.py` (a recognizer, an analyzer, an export sink), so it is tested with a
stand-in recognizer in milliseconds.
"""
