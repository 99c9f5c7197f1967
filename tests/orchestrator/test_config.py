"""Configuration: defaults from config.toml, overrides, secrets only from the environment, clear errors."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import ConfigError, Secret, load_settings

SECRET = "s" * 40


def test_defaults_come_from_config_toml(tmp_path: Path) -> None:
    settings = load_settings(env={"JWT_SECRET": SECRET, "CALLMEBACK_DATA_DIR": str(tmp_path)})
    assert settings.server.port == 8080
    assert settings.auth.token_lifetime_s == 604800
    assert settings.twilio.api_base == "https://api.twilio.com"
    assert settings.twilio.auth_token is None and settings.openai.api_key is None
    assert settings.base_url == "http://127.0.0.1:8080"


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "JWT_SECRET": SECRET,
        "CALLMEBACK_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://u@db.example/app",
        "PUBLIC_BASE_URL": "https://calls.example.com/",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_AUTH_TOKEN": "tw-secret",
        "TWILIO_FROM_NUMBER": "+15550001111",
        "TWILIO_API_BASE": "http://127.0.0.1:9999",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
    }
    settings = load_settings(env=env)
    assert settings.database.url == "postgresql://u@db.example/app"
    assert settings.base_url == "https://calls.example.com"
    assert settings.twilio.account_sid == "AC123" and settings.twilio.from_number == "+15550001111"
    assert settings.twilio.auth_token == Secret("tw-secret")
    assert settings.openai.api_key.reveal() == "sk-test"
    assert settings.openai.base_url == "http://127.0.0.1:8000/v1"


def test_secrets_never_show_in_reprs(tmp_path: Path) -> None:
    settings = load_settings(
        env={"JWT_SECRET": SECRET, "TWILIO_AUTH_TOKEN": "tw-secret", "CALLMEBACK_DATA_DIR": str(tmp_path)}
    )
    text = repr(settings) + str(settings)
    assert SECRET not in text and "tw-secret" not in text
    assert "Secret('***')" in text


def test_override_file_and_unknown_keys(tmp_path: Path) -> None:
    override = tmp_path / "mine.toml"
    override.write_text("[server]\nport = 9000\n[auth]\npassword_min_length = 12\n")
    settings = load_settings(
        env={"JWT_SECRET": SECRET, "CALLMEBACK_DATA_DIR": str(tmp_path), "CALLMEBACK_CONFIG": str(override)}
    )
    assert settings.server.port == 9000 and settings.auth.password_min_length == 12
    override.write_text("[server]\nprot = 9000\n")
    with pytest.raises(ConfigError, match=r"\[server\] prot: unknown setting"):
        load_settings(env={"JWT_SECRET": SECRET, "CALLMEBACK_CONFIG": str(override)})


def test_every_problem_is_named(tmp_path: Path) -> None:
    override = tmp_path / "bad.toml"
    override.write_text('[server]\nport = "eighty"\n[auth]\njwt_secret = "in-a-file"\n')
    env = {
        "CALLMEBACK_CONFIG": str(override),
        "DATABASE_URL": "mysql://nope",
        "CALLMEBACK_DATA_DIR": str(tmp_path),
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    message = str(caught.value)
    assert "[server] port: expected an integer" in message
    assert "[auth] jwt_secret: secrets may only come from the environment" in message
    assert "in-a-file" not in message


def test_external_database_requires_jwt_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="jwt_secret: required secret is not set"):
        load_settings(env={"DATABASE_URL": "postgresql://db/app", "CALLMEBACK_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="JWT_SECRET: must be at least 32 bytes"):
        load_settings(env={"DATABASE_URL": "postgresql://db/app", "JWT_SECRET": "short"})


def test_invalid_urls_are_named(tmp_path: Path) -> None:
    env = {"JWT_SECRET": SECRET, "CALLMEBACK_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(env={**env, "DATABASE_URL": "mysql://x/y"})
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings(env={**env, "PUBLIC_BASE_URL": "calls.example.com"})


def test_local_jwt_secret_is_generated_once_owner_only(tmp_path: Path) -> None:
    first = load_settings(env={"CALLMEBACK_DATA_DIR": str(tmp_path)})
    path = tmp_path / "secrets" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.auth.jwt_secret.reveal()) >= 32
    again = load_settings(env={"CALLMEBACK_DATA_DIR": str(tmp_path)})
    assert again.auth.jwt_secret == first.auth.jwt_secret


def test_cli_reports_bad_setting_and_exits(tmp_path: Path, repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "migrate"],
        cwd=repo_root,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "mysql://x/y", "JWT_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_realtime_mode_is_validated_and_needs_the_openai_key(tmp_path: Path) -> None:
    override = tmp_path / "realtime.toml"
    override.write_text('[engines]\nmode = "realtime"\n')
    env = {"JWT_SECRET": SECRET, "CALLMEBACK_DATA_DIR": str(tmp_path), "CALLMEBACK_CONFIG": str(override)}
    with pytest.raises(ConfigError, match=r'OPENAI_API_KEY: required when \[engines\] mode = "realtime"'):
        load_settings(env=env)
    settings = load_settings(env={**env, "OPENAI_API_KEY": "sk-test"})
    assert settings.engines.mode == "realtime" and settings.openai_realtime.model == "gpt-realtime"
    override.write_text('[engines]\nmode = "telepathy"\n')
    with pytest.raises(ConfigError, match=r"\[engines\] mode: expected one of pipeline, realtime"):
        load_settings(env=env)
