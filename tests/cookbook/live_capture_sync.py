"""A synchronous live-capture client, written as the published sync cookbook describes it ("Live Capture
Python Cookbook (Sync)": `requests`, a background thread for the SSE stream, sequential chunks with
`chunk_seq` 0, 1, 2, ..., resending the same number on a transient error, finalize, then wait for `done`).

    python live_capture_sync.py BASE_URL API_KEY FILE
"""

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

CHUNK_SIZE = 64 * 1024


def stream_events(base_url: str, api_key: str, events_url: str, got_done: threading.Event) -> None:
    headers = {"Accept": "text/event-stream", "X-API-Key": api_key}
    with requests.get(base_url + events_url, headers=headers, stream=True, timeout=(10, None)) as resp:
        resp.raise_for_status()
        event_name: str | None = None
        buffer: list[str] = []
        for line in resp.iter_lines(decode_unicode=True):
            raw = line.decode() if isinstance(line, bytes) else line
            if not raw:
                if buffer:
                    payload = json.loads("".join(buffer))
                    print(f"{event_name or 'message'}: {payload}", flush=True)
                    buffer.clear()
                    if event_name == "done":
                        got_done.set()
                        return
                continue
            if raw.startswith("event:"):
                event_name = raw.split("event:", 1)[1].strip()
            elif raw.startswith("data:"):
                buffer.append(raw.split("data:", 1)[1].strip())


def post_chunk(session: requests.Session, url: str, seq: int, data: bytes) -> dict[str, Any]:
    for attempt in range(5):  # exponential backoff, the same chunk_seq on every retry
        try:
            files = {"chunk": (f"chunk-{seq}.bin", data, "application/octet-stream")}
            resp = session.post(url, data={"chunk_seq": str(seq)}, files=files, timeout=30)
            if resp.status_code < 500:
                resp.raise_for_status()
                ack: dict[str, Any] = resp.json()
                return ack
        except requests.ConnectionError:
            pass
        time.sleep(0.2 * 2**attempt)
    raise RuntimeError(f"chunk {seq} was not accepted")


def main(base_url: str, api_key: str, file_path: Path) -> None:
    http = requests.Session()
    http.headers["X-API-Key"] = api_key
    start = http.post(base_url + "/analyze/live/start", json={"filename": file_path.name}, timeout=30)
    start.raise_for_status()
    session = start.json()
    got_done = threading.Event()
    reader = threading.Thread(target=stream_events, args=(base_url, api_key, session["events_endpoint"], got_done))
    reader.start()
    time.sleep(0.5)
    with file_path.open("rb") as media:
        seq = 0
        while data := media.read(CHUNK_SIZE):
            ack = post_chunk(http, base_url + session["chunk_endpoint"], seq, data)
            print(f"chunk {seq} acknowledged, total bytes={ack['received_bytes']}", flush=True)
            seq += 1
    resp = http.post(base_url + session["control_endpoint"], json={"action": "finalize"}, timeout=30)
    resp.raise_for_status()
    print(f"Finalize ack: {resp.json()}", flush=True)
    reader.join(600)
    if not got_done.is_set():
        raise SystemExit("the events stream ended without done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
