"""docs/deployment.md's steps, run where they can be and read against the code where they cannot.

- The VM check step (the guide's `runuser -u audiohook -- sh -c '...'` block) has the systemd unit's
  `EnvironmentFile=`, `Environment=` and `ExecStartPre=`, and the guide creates every directory it
  needs first. Both run for real, paths moved under a temporary directory: `install -d` makes the
  directories, and the script reads the env file itself (no environment carried in, as after sudo) and
  passes `--check-config`; with the example's placeholder credentials it fails on them, so the file is
  really read. The guide's `envsubst` line renders the nginx template as the tests' renderer does.
- Settings have one place per recipe: no `AUDIOHOOK_*` setting in compose's `environment:`, the env
  file, the image, the unit or the pod spec is also a key of the TOML file that recipe mounts (the
  environment would beat the file); an edit of compose's mounted TOML takes effect in the settings the
  server builds from the container's environment. compose.audiohook.toml keeps deploy/audiohook.toml's
  settings except the container's address and volume.
- The Dockerfile's settings step (`sed` on the image's TOML, then `--check-config`) runs for real.
- Names: every `AUDIOHOOK_*` variable in the guide and in deploy/ is a setting (or AUDIOHOOK_CONFIG, or a
  compose variable compose.yaml reads); every snake_case name in the guide's inline code is a setting or
  an nginx directive of the template; every `--flag` is the server's, the client's, or one of the
  other tools' the guide runs.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from analysis.model_cache import default_cache_root
from audiohook_server.client.cli import build_parser as client_parser
from audiohook_server.settings import ENV_PREFIX, Settings, parse_command_line
from audiohook_server.settings import build_parser as server_parser
from tests.deploy.deploy_helpers import DEPLOY, NGINX_TEMPLATE, ROOT, render_template

GUIDE = ROOT / "docs" / "deployment.md"
UNIT = DEPLOY / "systemd" / "audiohook-server.service"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
SETTINGS = {f.name for f in dataclasses.fields(Settings)}
VALID_KEYS = "guide-key:Z3VpZGUtdGVzdC1jbGllbnQtc2VjcmV0LTAxMjM0NTY="
# Flags of the other tools the guide runs (useradd, pip, docker, kubectl, certbot, systemctl, validators).
OTHER_TOOLS_FLAGS = {
    "--build", "--build-arg", "--builtin-schema", "--deploy-hook", "--entrypoint", "--env-file", "--from-literal",
    "--home-dir", "--index-url", "--name", "--now", "--read-only", "--rm", "--scale", "--shell", "--standalone",
    "--stop-timeout", "--strict", "--sweep", "--system", "--tmpfs", "--webroot",
}  # fmt: skip


def _guide() -> str:
    return GUIDE.read_text()


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


def _block_with(*needles: str) -> str:
    (block,) = [b for b in _shell_blocks(_guide()) if all(n in b for n in needles)]
    return block


def _command(block: str, program: str, *words: str) -> list[str]:
    """The words of the one command of `block` that starts with `program` and has `words` (continuation
    lines joined)."""
    joined = block.replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in _logical_lines(joined)]
    (found,) = [c for c in commands if c and c[0] == program and all(w in c for w in words)]
    return found


def _logical_lines(text: str) -> list[str]:
    """Shell lines, a quoted string that spans lines kept in one."""
    lines: list[str] = []
    pending = ""
    for line in text.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        lines.append(pending)
        pending = ""
    assert not pending, f"unterminated quote in {pending!r}"
    return lines


def _unit() -> tuple[dict[str, str], dict[str, str]]:
    """The unit's single-valued keys, and its Environment= assignments."""
    text = UNIT.read_text()
    values = dict(re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE))
    environment = dict(a.split("=", 1) for a in re.findall(r"^Environment=(.*)$", text, re.MULTILINE))
    return values, environment


def _env_file(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


# --------------------------------------------------------------------------------------------------
# The VM: the check as the service user, with the unit's environment


def test_vm_check_step_has_the_units_environment_and_its_directories() -> None:
    values, environment = _unit()
    runuser = _command(_block_with("runuser", "--check-config"), "runuser")
    assert runuser[:6] == ["runuser", "-u", values["User"], "--", "sh", "-c"], runuser
    script = runuser[6]
    assert f". {values['EnvironmentFile']} " in script and script.startswith("set -a")
    for name, value in environment.items():
        if not name.startswith((ENV_PREFIX, "HF_")):
            continue  # PYTHONUNBUFFERED: for the journal only
        assert f"{name}={value}" in script, f"the unit sets {name}={value}; the guide's check does not"
    assert script.rstrip().endswith(f"exec {values['ExecStartPre']}")

    # The directories it needs exist before systemd would create them, owned by the service user.
    install = _command(_block_with("install -d", "-o audiohook"), "install", "-d", "-o")
    assert install[install.index("-o") + 1] == values["User"] and install[install.index("-g") + 1] == values["Group"]
    created = {Path(p) for p in install if p.startswith("/")}
    config = tomllib.loads((DEPLOY / "audiohook.toml").read_text())
    needed = {
        Path("/var/lib") / values["StateDirectory"],
        Path("/var/cache") / values["CacheDirectory"],
        Path(config["recordings_dir"]),
        Path(environment["AUDIOHOOK_MODEL_CACHE_DIR"]),
    }
    assert needed <= created, needed - created
    # `sudo -u audiohook env VAR=...` (the old step) lost the environment: no command of the guide says it.
    assert not [b for b in _shell_blocks(_guide()) if "sudo -u audiohook env" in b]


def _rebased(text: str, moves: Mapping[str, str]) -> str:
    for old, new in moves.items():
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("credentials", ["filled in", "the example's placeholder"])
def test_vm_check_step_runs(credentials: str, tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    moves = {
        "/etc/audiohook/": f"{tmp_path}/etc/",
        "/var/lib/audiohook": f"{tmp_path}/var/lib/audiohook",
        # The service's model cache here is this machine's cache, where the turn classifier is trained.
        "/var/cache/audiohook/models": str(default_cache_root()),
        "/var/cache/audiohook": f"{tmp_path}/var/cache/audiohook",
        "/opt/audiohook/venv/bin/": f"{venv_bin}/",
    }
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "audiohook.toml").write_text(_rebased((DEPLOY / "audiohook.toml").read_text(), moves))
    example = (DEPLOY / "audiohook.env.example").read_text()
    if credentials == "filled in":
        example = re.sub(r"^AUDIOHOOK_API_KEYS=.*$", f"AUDIOHOOK_API_KEYS={VALID_KEYS}", example, flags=re.MULTILINE)
    (tmp_path / "etc" / "audiohook.env").write_text(example)

    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    install = _command(_block_with("install -d", "-o audiohook"), "install", "-d", "-o")
    install = [user if w == "audiohook" and install[i - 1] == "-o" else w for i, w in enumerate(install)]
    install = [group if w == "audiohook" and install[i - 1] == "-g" else w for i, w in enumerate(install)]
    made = subprocess.run([_rebased(w, moves) for w in install], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "var" / "lib" / "audiohook" / "recordings").is_dir()

    script = _rebased(_command(_block_with("runuser", "--check-config"), "runuser")[6], moves)
    # What is left after sudo or runuser: no AUDIOHOOK_* variable from this process.
    env = {"PATH": os.environ["PATH"], "HOME": str(Path.home()), "LANG": "C.UTF-8"}
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False)
    if credentials == "filled in":
        assert result.returncode == 0 and "configuration OK" in result.stdout, result.stdout + result.stderr
        assert f"recordings:    {tmp_path}/var/lib/audiohook/recordings" in result.stdout
        assert "api keys:      1 (1 with a Genesys client secret)" in result.stdout
    else:
        assert result.returncode == 2 and "not valid base64" in result.stderr, result.stdout + result.stderr


def test_guides_envsubst_line_renders_the_template(tmp_path: Path) -> None:
    envsubst = shutil.which("envsubst")
    if envsubst is None:
        pytest.skip("envsubst is not installed (Debian: apt-get install -y gettext-base)")
    block = _block_with("envsubst", "NGINX_SERVER_NAME")
    words = _command(block, "envsubst")
    assert words[2] == "<" and ROOT / words[3].removeprefix("audiohook-server/") == NGINX_TEMPLATE, words
    names = re.findall(r"\$\{(\w+)\}", words[1])
    exports = dict(re.findall(r"(NGINX_\w+)=(\S+)", block))
    assert set(names) == set(exports), "every placeholder the line fills is exported above it"
    rendered = subprocess.run(
        [envsubst, words[1]],
        input=NGINX_TEMPLATE.read_text(),
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **exports},
        check=True,
    ).stdout
    assert rendered == render_template(NGINX_TEMPLATE.read_text(), exports)
    assert "${" not in rendered and "$http_host" in rendered  # nginx's own variables left alone


# --------------------------------------------------------------------------------------------------
# One place for the settings of each recipe


def _settings_variables(names: Mapping[str, Any] | set[str]) -> set[str]:
    """The settings that `AUDIOHOOK_*` names set (AUDIOHOOK_CONFIG only says where the file is)."""
    found = {n.removeprefix(ENV_PREFIX).lower() for n in names if n.startswith(ENV_PREFIX) and n != "AUDIOHOOK_CONFIG"}
    assert found <= SETTINGS, f"not settings: {found - SETTINGS}"
    return found


def _compose_server() -> dict[str, Any]:
    server: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]["audiohook"]
    return server


def _compose_config_source() -> Path:
    server = _compose_server()
    mounts = dict(reversed(v.split(":")[:2]) for v in server["volumes"])
    source: str = mounts[server["environment"]["AUDIOHOOK_CONFIG"]]
    return (COMPOSE.parent / source).resolve()


def _configmap_toml() -> dict[str, Any]:
    documents = yaml.safe_load_all((DEPLOY / "k8s" / "configmap.yaml").read_text())
    (doc,) = [d for d in documents if d["kind"] == "ConfigMap"]
    return tomllib.loads(doc["data"]["audiohook.toml"])


def test_no_environment_variable_silently_beats_a_mounted_file() -> None:
    image_env = set(DockerfileParser(path=str(DOCKERFILE)).envs)
    env_example = set(_env_file(DEPLOY / "audiohook.env.example"))
    server = _compose_server()
    compose_env = set(server["environment"]) | env_example  # env_file: audiohook.env (from the example)
    assert (COMPOSE.parent / f"{server['env_file']}.example").resolve() == (DEPLOY / "audiohook.env.example")
    _, unit_env = _unit()
    (deployment,) = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text())]
    pod_env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    recipes = {
        "compose": (image_env | compose_env, tomllib.loads(_compose_config_source().read_text())),
        "image": (image_env, tomllib.loads((DEPLOY / "image-defaults.toml").read_text())),
        "kubernetes": (image_env | pod_env, _configmap_toml()),
        "systemd": (set(unit_env) | env_example, tomllib.loads((DEPLOY / "audiohook.toml").read_text())),
    }
    for recipe, (variables, file_settings) in recipes.items():
        beaten = _settings_variables(variables) & set(file_settings)
        assert not beaten, f"{recipe}: the environment overrides {sorted(beaten)} of the mounted file"
    assert _settings_variables(set(server["environment"])) == set(), "compose sets settings in its environment"
    assert _settings_variables(env_example) == {"api_keys"}, "the env file is for the secret only"


def test_an_edit_of_composes_mounted_toml_takes_effect(tmp_path: Path) -> None:
    mounted = tmp_path / "audiohook.toml"
    text = _compose_config_source().read_text()
    server = _compose_server()
    # The container's environment: the image's, compose's, the env file's.
    environ = {
        **DockerfileParser(path=str(DOCKERFILE)).envs,
        **{k: str(v) for k, v in server["environment"].items()},
        **_env_file(DEPLOY / "audiohook.env.example"),
        "AUDIOHOOK_API_KEYS": VALID_KEYS,
        "AUDIOHOOK_CONFIG": str(mounted),  # where compose mounts it, here
    }
    mounted.write_text(text)
    shipped, _ = parse_command_line([], environ)
    assert (shipped.host, str(shipped.recordings_dir), shipped.max_sessions) == ("0.0.0.0", "/data/recordings", 20)

    edits = {"host": '"127.0.0.9"', "recordings_dir": '"/data/elsewhere"', "max_sessions": "7", "log_level": '"DEBUG"'}
    for key, value in edits.items():
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
        assert count == 1, key
    mounted.write_text(text)
    edited, _ = parse_command_line([], environ)
    assert (edited.host, str(edited.recordings_dir), edited.max_sessions, edited.log_level) == (
        "127.0.0.9",
        "/data/elsewhere",
        7,
        "DEBUG",
    )


def test_composes_settings_are_the_vms_but_for_address_and_volume() -> None:
    vm = tomllib.loads((DEPLOY / "audiohook.toml").read_text())
    compose = tomllib.loads(_compose_config_source().read_text())
    image = tomllib.loads((DEPLOY / "image-defaults.toml").read_text())
    differ = {k for k in vm.keys() | compose.keys() if vm.get(k) != compose.get(k)}
    assert differ == {"host", "recordings_dir"}, differ
    assert compose["host"] == image["host"] and compose["recordings_dir"] == image["recordings_dir"]
    assert str(image["recordings_dir"]) in {v.split(":")[1] for v in _compose_server()["volumes"]}


# --------------------------------------------------------------------------------------------------
# The Dockerfile's settings step


def test_dockerfile_settings_step_runs(tmp_path: Path) -> None:
    runs = [i["value"] for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] == "RUN"]
    (step,) = [r for r in runs if "--check-config" in r]
    image_toml = tmp_path / "audiohook.toml"
    shutil.copy(DEPLOY / "image-defaults.toml", image_toml)
    moves = {
        "/opt/audiohook/audiohook.toml": str(image_toml),
        "/opt/audiohook/models": str(default_cache_root()),  # where the turn classifier is trained here
        "/tmp/recordings": str(tmp_path / "recordings"),
    }
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(Path.home())}
    env["WHISPER_MODEL"] = "tiny.en"  # the build argument's default
    result = subprocess.run(
        ["sh", "-c", _rebased(step, moves)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0 and "configuration OK" in result.stdout, result.stdout + result.stderr
    assert 'whisper_model = "tiny.en"' in image_toml.read_text()
    assert "listen:        ws://0.0.0.0:8080/audiohook" in result.stdout


# --------------------------------------------------------------------------------------------------
# Names the guide uses


def test_every_audiohook_variable_named_is_a_setting() -> None:
    compose_text = COMPOSE.read_text()
    texts = {GUIDE: _guide()} | {
        p: p.read_text() for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    for path, text in texts.items():
        for name in set(re.findall(r"\bAUDIOHOOK_[A-Z0-9_]+\b", text)):
            if name == "AUDIOHOOK_CONFIG" or f"${{{name}" in compose_text:  # compose's own variable
                continue
            assert name.removeprefix(ENV_PREFIX).lower() in SETTINGS, f"{path.relative_to(ROOT)}: {name} is no setting"


def test_every_setting_and_flag_the_guide_names_exists() -> None:
    guide = _guide()
    template = NGINX_TEMPLATE.read_text()
    for name in set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?: = [^`]*)?`", guide)):
        assert name in SETTINGS or re.search(rf"^\s*{name}\b", template, re.MULTILINE), f"`{name}` is no setting"
    ours = {o for p in (server_parser(), client_parser()) for a in p._actions for o in a.option_strings}
    for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", guide)):
        assert flag in ours or flag in OTHER_TOOLS_FLAGS, f"{flag} is neither the server's nor the client's"
