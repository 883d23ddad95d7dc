"""scripts/setup.sh, the README's set-up command, either way torch is installed: from pip's configured
index (the default) or, with TORCH_INDEX_URL, the CPU build from PyTorch's CPU index first.

The script runs for real in its dry-run mode (SETUP_DRY_RUN=1 prints each command instead of running
it), from a copy of the repository's script and pyproject.toml, so nothing is installed and no network
is needed; the commands it would run are checked, and that it really ran none of them. `bash -n` and,
where Debian's shellcheck is installed, shellcheck check the whole script. The CPU index named in the
README, the guide and the Dockerfile is the same.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.deploy_helpers import DEPLOY, ROOT

SCRIPT = ROOT / "scripts" / "setup.sh"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
RESEMBLYZER = "resemblyzer==0.1.4"  # the GE2E speaker weights (docs/diarization.md)


def _torch_pin() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.match(r"torch\s*==", d)]
    return str(pin)


def _dry_run(tmp_path: Path, **env: str) -> list[list[str]]:
    """The commands the script would run, from a copy of the script beside a copy of pyproject.toml."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SETUP_DRY_RUN": "1", **env}
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True, env=environ, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "scripts"], "a dry run changed nothing"
    return [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")]


def test_script_parses_and_passes_shellcheck() -> None:
    parsed = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian: apt-get install -y shellcheck)")
    checked = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_default_installs_torch_with_everything_else(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path)
    python = [c for c in commands if c[0] in ("python3.11", ".venv/bin/pip", ".venv/bin/python")]
    assert python == [
        ["python3.11", "-m", "venv", ".venv"],
        [".venv/bin/pip", "install", "-e", ".[test]"],
        [".venv/bin/pip", "install", "--no-deps", RESEMBLYZER],
        [".venv/bin/python", "-m", "analysis"],
    ]


def test_torch_index_url_installs_the_pinned_torch_from_it_first(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, TORCH_INDEX_URL=CPU_INDEX)
    python = [c for c in commands if c[0] in ("python3.11", ".venv/bin/pip", ".venv/bin/python")]
    assert python == [
        ["python3.11", "-m", "venv", ".venv"],
        [".venv/bin/pip", "install", "--index-url", CPU_INDEX, _torch_pin()],
        [".venv/bin/pip", "install", "-e", ".[test]"],
        [".venv/bin/pip", "install", "--no-deps", RESEMBLYZER],
        [".venv/bin/python", "-m", "analysis"],
    ]


def test_the_speaker_model_is_pinned_the_same_in_the_image() -> None:
    """resemblyzer is installed without its dependencies (pyproject.toml says why), the same in both."""
    runs = [
        i["value"] for i in DockerfileParser(path=str(DEPLOY / "Dockerfile")).structure if i["instruction"] == "RUN"
    ]
    assert f"pip install --no-deps {RESEMBLYZER}" in runs


def test_the_cpu_index_is_the_same_everywhere() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"TORCH_INDEX_URL={CPU_INDEX} bash scripts/setup.sh" in readme
    guide = (ROOT / "docs" / "deployment.md").read_text()
    pin = _torch_pin().replace(" ", "")
    assert f"pip install --index-url {CPU_INDEX} {pin}" in guide
    structure = DockerfileParser(path=str(DEPLOY / "Dockerfile")).structure
    assert f"TORCH_INDEX_URL={CPU_INDEX}" in [i["value"] for i in structure if i["instruction"] == "ARG"]
    runs = [i["value"] for i in structure if i["instruction"] == "RUN"]
    assert f'pip install --index-url "$TORCH_INDEX_URL" {pin}' in runs
