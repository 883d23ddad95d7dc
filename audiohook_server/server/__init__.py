"""The front doors: one server process, its routes, admission, and the transports over the sessions.

- `app`: `AudioHookServer`, start (recovery, models, listening), drain and stop;
- `routes`: what each path is (health, readiness, metrics, a WebSocket door) and the HTTP answers;
- `admission`: the session limits (per process, per API key or JWT subject);
- `dialects`: which sans-I/O session a connection gets;
- `session_runner`: carries out a session's actions against a call core and an outbox (transport-neutral);
- `websocket_door`: one WebSocket connection, thin over the runner;
- `cli`: the `audiohook-server` command.
"""
