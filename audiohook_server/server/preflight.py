"""What the settings name on this machine, checked before anything is served: the port and the directories.

`Settings.validate` checks values; these check that the machine can do what they say. A port in use, a
recordings directory that is a file or sits on a read-only file system, a model cache that cannot be
written: each is a `ConfigurationError` whose one line names the setting (flag, environment variable,
TOML key) and what to do, instead of a traceback from deep inside uvicorn or pathlib. The server runs
`listening_socket` and `writable_directory` as it starts; `--check-config` runs them all (and releases
the port again).
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from audiohook_server.settings import ConfigurationError, Settings, setting_names

__all__ = ["check_port", "directory_problem", "listening_socket", "writable_directory"]


def listening_socket(settings: Settings) -> socket.socket:
    """A TCP socket bound to --host/--port (as uvicorn binds it: SO_REUSEADDR, IPv6 for an address with a
    colon), not yet listening; ConfigurationError when the port cannot be had."""
    host, port = settings.host, settings.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(_bind_problem(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def check_port(settings: Settings) -> None:
    """Bind --host/--port and let it go again (what --check-config does)."""
    listening_socket(settings).close()


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return (
            f"{setting_names('host', host)} cannot be resolved ({exc.strerror}); give an address of this "
            "machine, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        )
    if exc.errno == errno.EADDRINUSE:
        return f"{setting_names('port', port)} is in use by another process; stop it or choose another port"
    if exc.errno == errno.EACCES:
        return (
            f"{setting_names('port', port)} needs privileges this process does not have (ports below 1024 do); "
            "choose a port of 1024 or more, or give the process CAP_NET_BIND_SERVICE"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{setting_names('host', host)} is not an address of this machine; give one of its addresses, "
            "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        )
    return (
        f"cannot listen on {host}:{port} ({exc.strerror or exc}); check {setting_names('host', host)} "
        f"and {setting_names('port', port)}"
    )


def writable_directory(path: Path, setting: str) -> None:
    """Create `path` (and its parents) if missing and prove it writable by writing and deleting a file;
    ConfigurationError naming `setting` (`setting_names(...)`, or a sentence that names it) when not."""
    problem = directory_problem(path)
    if problem is not None:
        raise ConfigurationError(f"{setting} {problem}")


def directory_problem(path: Path) -> str | None:
    """What keeps `path` from being a directory this process can write, with the fix; None when it is one
    (it is created, with its parents, when missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "is a file, not a directory; point it at a directory (it is created when missing)"
    except NotADirectoryError:
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        where = f"{blocking} is a file" if blocking is not None else "a parent is not a directory"
        return f"cannot be created: {where}; choose a directory whose parents are directories"
    except OSError as exc:
        existing = next((parent for parent in path.parents if parent.exists()), None)
        inside = f" in {existing}" if existing is not None else ""
        return (
            f"cannot be created{inside}: {exc.strerror or exc}; create it and give the server's user write access "
            "to it, or choose a directory on a writable file system"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".audiohook-write-check-") as probe:
            probe.write(b"audiohook-server --check-config\n")
            probe.flush()
    except OSError as exc:
        return (
            f"is not writable ({exc.strerror or exc}); give the server's user write access to it (chown, chmod), "
            "or choose another directory"
        )
    return None
