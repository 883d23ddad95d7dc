"""Start-up checks: a port in use and directories that cannot be written are one-line configuration errors."""

from __future__ import annotations

import dataclasses
import socket
import sys
from pathlib import Path

import pytest

from audiohook_server.server.preflight import check_port, directory_problem, listening_socket, writable_directory
from audiohook_server.settings import ConfigurationError, Settings, setting_names

SETTINGS = Settings(api_keys=(), insecure_no_auth=True)


def test_a_port_in_use_names_the_setting_and_the_fix() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = dataclasses.replace(SETTINGS, port=port)
        with pytest.raises(ConfigurationError) as raised:
            check_port(settings)
    assert str(raised.value) == (
        f"--port {port} (AUDIOHOOK_PORT / port in the TOML file) is in use by another process; "
        "stop it or choose another port"
    )
    check_port(settings)  # released by the holder: now it can be had, and is let go again
    check_port(settings)


def test_a_free_port_is_bound_and_a_host_that_is_not_here_is_named() -> None:
    sock = listening_socket(dataclasses.replace(SETTINGS, port=0))
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()
    with pytest.raises(ConfigurationError, match=r"^--host 192\.0\.2\.1 \(AUDIOHOOK_HOST / host in the TOML file\)"):
        check_port(dataclasses.replace(SETTINGS, host="192.0.2.1", port=0))  # TEST-NET-1: never local
    with pytest.raises(ConfigurationError, match="cannot be resolved"):
        check_port(dataclasses.replace(SETTINGS, host="no-such-host.invalid", port=0))


def test_directories_are_created_and_proved_writable(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert directory_problem(target) is None
    assert target.is_dir() and list(target.iterdir()) == []  # the probe file is gone again


def test_directories_that_cannot_be_used_say_why(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert (
        directory_problem(afile) == "is a file, not a directory; point it at a directory (it is created when missing)"
    )
    assert directory_problem(afile / "sub") == (
        f"cannot be created: {afile} is a file; choose a directory whose parents are directories"
    )
    name = setting_names("recordings_dir", afile)
    with pytest.raises(ConfigurationError, match=r"^--recordings-dir .*afile \(AUDIOHOOK_RECORDINGS_DIR / "):
        writable_directory(afile, name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs")
def test_a_directory_on_a_file_system_that_takes_no_files() -> None:
    # /proc takes no new files even for root, whom permission bits do not stop.
    created = directory_problem(Path("/proc/audiohook-recordings"))
    assert created is not None and created.startswith("cannot be created in /proc: ")
    written = directory_problem(Path("/proc"))
    assert written is not None and written.startswith("is not writable (")
    assert "write access" in written
