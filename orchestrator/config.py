"""Typed settings: config.toml, then the CALLMEBACK_CONFIG file, then environment variables.

Everything is validated once at startup into frozen dataclasses and passed down; a problem stops the
server with one message naming every bad or missing setting. Secrets are `Secret` objects whose repr
hides the value, so a settings object can be logged without leaking them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from media.pacer import PacerSettings
from media.stt_whisper import WhisperSettings
from media.turns import TurnSettings
from media.vad import VadSettings

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message names each problem."""


class Secret:
    """A secret string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    public_base_url: str
    data_dir: Path
    max_body_bytes: int
    trust_forwarded_for: bool
    log_format: str
    log_level: str
    cors_origins: tuple[str, ...]
    drain_s: float
    goodbye_s: float


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    pool_min_size: int
    pool_max_size: int
    command_timeout_s: float
    recorder_buffer_rows: int


@dataclass(frozen=True)
class AuthSettings:
    token_lifetime_s: int
    issuer: str
    audience: str
    password_min_length: int
    login_failures_per_email: int
    login_failure_window_s: int
    login_attempts_per_address: int
    login_attempt_window_s: int
    registrations_per_address: int
    registration_window_s: int
    purge_interval_s: int
    jwt_secret: Secret


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    from_number: str
    api_base: str
    auth_token: Secret | None


@dataclass(frozen=True)
class TelephonySettings:
    ring_timeout_s: int
    max_live_calls_per_user: int
    calls_per_window: int
    calls_window_s: int
    daily_call_cap: int
    allowed_countries: tuple[str, ...]
    default_region: str
    stream_token_ttl_s: int
    inbound_default_persona: str
    inbound_unknown_caller: str
    inbound_unknown_message: str
    inbound_no_minutes_message: str
    persona_numbers: dict[str, str]
    sms_code_ttl_s: int
    sms_max_attempts: int
    sms_resend_interval_s: int
    sms_per_hour: int


@dataclass(frozen=True)
class CarrierSection:
    """`[carrier]`: the built-in local carrier used when no Twilio credentials are set."""

    host: str
    port: int
    from_number: str
    recordings_dir: str
    allow_insecure_ws: bool
    answer_delay_s: float
    progress_step_s: float
    calls_per_second: float
    say_words_per_minute: float
    webhook_timeout_s: float
    account_sid: str
    auth_token: Secret


@dataclass(frozen=True)
class CallSection:
    """`[call]`: lines, engine deadlines and silence handling of every call."""

    fallback_line: str
    still_there_line: str
    idle_goodbye_line: str
    time_warning_line: str
    time_goodbye_line: str
    shutdown_goodbye_line: str
    first_token_timeout_s: float
    stt_timeout_s: float
    tts_timeout_s: float
    idle_prompt_s: float
    idle_hangup_s: float
    time_warning_s: float
    min_transcript_chars: int
    max_stream_violations: int
    max_stream_messages_per_s: int
    stream_start_timeout_s: float


@dataclass(frozen=True)
class EnginesSection:
    """`[engines]`: which engine does each job."""

    stt: str
    tts: str
    llm: str
    mode: str  # "pipeline" (stt -> llm -> tts) or "realtime" (OpenAI Realtime speech to speech, [openai_realtime])
    instant_stand_ins: bool  # tests and benchmarks only (bench/instant_engines.py)


@dataclass(frozen=True)
class PiperSection:
    """`[piper]`: the embedded voice; each persona's voice shaping comes from the persona itself."""

    model_path: str
    config_path: str
    sample_rate: int
    length_scale: float
    noise_scale: float
    noise_w: float
    pitch_semitones: float
    volume: float


@dataclass(frozen=True)
class LocalLlmSection:
    """`[local_llm]`: the embedded llama.cpp server and model."""

    model: str
    threads: int
    context_tokens: int
    parallel_slots: int
    cache_ram_mib: int
    warm_first_reply: bool
    start_timeout_s: float
    stop_timeout_s: float


@dataclass(frozen=True)
class LlmSection:
    """`[llm]`: the chat model (for engines.llm = "openai") and request limits for every model."""

    model: str
    timeout_s: float
    max_retries: int


@dataclass(frozen=True)
class ScheduleSection:
    """`[schedules]`: scheduled and recurring callbacks and the executor that places them."""

    run_executor: bool
    poll_interval_s: float
    grace_s: int
    max_retries: int
    retry_interval_s: int
    claim_batch: int
    placement_concurrency: int
    placing_timeout_s: int
    max_per_user: int
    upcoming: int

    def __post_init__(self) -> None:
        if self.poll_interval_s <= 0:
            raise ValueError("poll_interval_s: must be positive")
        if self.grace_s < 0 or self.placing_timeout_s < 1:
            raise ValueError("grace_s must be >= 0 and placing_timeout_s >= 1")
        if not 0 <= self.max_retries <= 5 or not 60 <= self.retry_interval_s <= 3600:
            raise ValueError("max_retries must be 0..5 and retry_interval_s 60..3600")
        if min(self.claim_batch, self.placement_concurrency, self.max_per_user, self.upcoming) < 1:
            raise ValueError("claim_batch, placement_concurrency, max_per_user and upcoming must be >= 1")


@dataclass(frozen=True)
class PricingSection:
    """`[pricing]`: prices for the per-call cost estimate (USD), and the monthly minute allowance."""

    telephony_per_minute: float
    stt_per_minute: float
    llm_per_1k_input_tokens: float
    llm_per_1k_output_tokens: float
    tts_per_1k_chars: float
    monthly_minutes_allowance: int  # per user, calendar month in their zone; 0 = unlimited

    def __post_init__(self) -> None:
        prices = (
            self.telephony_per_minute,
            self.stt_per_minute,
            self.llm_per_1k_input_tokens,
            self.llm_per_1k_output_tokens,
            self.tts_per_1k_chars,
        )
        if min(prices) < 0 or self.monthly_minutes_allowance < 0:
            raise ValueError("prices and monthly_minutes_allowance must be >= 0")


@dataclass(frozen=True)
class MemorySection:
    """`[memory]`: what personas remember across calls, and the worker that extracts it after each call."""

    run_worker: bool
    max_facts: int
    prompt_budget_tokens: int
    start_delay_s: float
    poll_interval_s: float
    claim_batch: int
    extraction_timeout_s: float
    extraction_max_tokens: int
    max_attempts: int
    backoff_s: float
    max_backoff_s: float
    voice_sample_max_chars: int
    voice_samples_per_hour: int

    def __post_init__(self) -> None:
        if not 1 <= self.max_facts <= 500 or self.prompt_budget_tokens < 0:
            raise ValueError("max_facts must be 1..500 and prompt_budget_tokens >= 0")
        if min(self.poll_interval_s, self.extraction_timeout_s, self.backoff_s) <= 0 or self.start_delay_s < 0:
            raise ValueError("poll_interval_s, extraction_timeout_s and backoff_s must be positive")
        if min(self.claim_batch, self.extraction_max_tokens, self.max_attempts, self.voice_sample_max_chars) < 1:
            raise ValueError("claim_batch, extraction_max_tokens, max_attempts, voice_sample_max_chars must be >= 1")
        if self.max_backoff_s < self.backoff_s or self.voice_samples_per_hour < 0:
            raise ValueError("max_backoff_s must be >= backoff_s and voice_samples_per_hour >= 0")


@dataclass(frozen=True)
class OpenAiSttSection:
    """`[openai_stt]`: speech-to-text through OpenAI (for [engines] stt = "openai")."""

    model: str
    language: str
    timeout_s: float
    max_retries: int


@dataclass(frozen=True)
class OpenAiTtsSection:
    """`[openai_tts]`: text-to-speech through OpenAI (for [engines] tts = "openai")."""

    model: str
    default_voice: str
    sample_rate: int
    timeout_s: float
    max_retries: int


@dataclass(frozen=True)
class OpenAiRealtimeSection:
    """`[openai_realtime]`: the speech-to-speech model (for [engines] mode = "realtime")."""

    model: str
    default_voice: str
    vad_threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    transcription_model: str
    connect_timeout_s: float


@dataclass(frozen=True)
class OpenAiSettings:
    base_url: str
    api_key: Secret | None


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database: DatabaseSettings
    auth: AuthSettings
    twilio: TwilioSettings
    telephony: TelephonySettings
    carrier: CarrierSection
    call: CallSection
    turns: TurnSettings
    vad: VadSettings
    pacer: PacerSettings
    engines: EnginesSection
    whisper: WhisperSettings
    piper: PiperSection
    local_llm: LocalLlmSection
    llm: LlmSection
    openai_stt: OpenAiSttSection
    openai_tts: OpenAiTtsSection
    openai_realtime: OpenAiRealtimeSection
    schedules: ScheduleSection
    memory: MemorySection
    openai: OpenAiSettings
    pricing: PricingSection

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash (webhook and stream URLs are built on it)."""
        url = self.server.public_base_url or f"http://{self.server.host}:{self.server.port}"
        return url.rstrip("/")


# Environment variable -> (section, key). Secrets are listed separately: they come from nowhere else.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "PUBLIC_BASE_URL": ("server", "public_base_url"),
    "CALLMEBACK_DATA_DIR": ("server", "data_dir"),
    "TWILIO_ACCOUNT_SID": ("twilio", "account_sid"),
    "TWILIO_FROM_NUMBER": ("twilio", "from_number"),
    "TWILIO_API_BASE": ("twilio", "api_base"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
}
ENV_SECRETS: dict[str, tuple[str, str]] = {
    "JWT_SECRET": ("auth", "jwt_secret"),
    "TWILIO_AUTH_TOKEN": ("twilio", "auth_token"),
    "OPENAI_API_KEY": ("openai", "api_key"),
}
_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "auth": AuthSettings,
    "twilio": TwilioSettings,
    "telephony": TelephonySettings,
    "carrier": CarrierSection,
    "call": CallSection,
    "turns": TurnSettings,
    "vad": VadSettings,
    "pacer": PacerSettings,
    "engines": EnginesSection,
    "whisper": WhisperSettings,
    "piper": PiperSection,
    "local_llm": LocalLlmSection,
    "llm": LlmSection,
    "openai_stt": OpenAiSttSection,
    "openai_tts": OpenAiTtsSection,
    "openai_realtime": OpenAiRealtimeSection,
    "schedules": ScheduleSection,
    "memory": MemorySection,
    "openai": OpenAiSettings,
    "pricing": PricingSection,
}
_MIN_JWT_SECRET_BYTES = 32


def load_settings(env: Mapping[str, str] | None = None, config_path: Path = DEFAULT_CONFIG) -> Settings:
    """Build validated settings; raise ConfigError naming every problem found."""
    env = os.environ if env is None else env
    raw = _read_toml(config_path)
    override_path = env.get("CALLMEBACK_CONFIG")
    if override_path:
        _merge(raw, _read_toml(Path(override_path)), override_path)
    problems: list[str] = []
    for section, key in ENV_SECRETS.values():
        if key in raw.get(section, {}):
            problems.append(f"[{section}] {key}: secrets may only come from the environment")
    for name, (section, key) in ENV_OVERRIDES.items():
        if name in env:
            raw.setdefault(section, {})[key] = env[name]
    for name, (section, key) in ENV_SECRETS.items():
        value = env.get(name, "")
        raw.setdefault(section, {})[key] = Secret(value) if value else None
    raw["server"]["data_dir"] = _resolve_data_dir(str(raw["server"].get("data_dir", "auto")), env)
    data_dir = raw["server"]["data_dir"]
    if raw["auth"].get("jwt_secret") is None and not raw["database"].get("url"):
        raw["auth"]["jwt_secret"] = _local_secret(data_dir, "jwt_secret")
    # The local carrier's credentials are made here once, so every process of this install agrees.
    carrier_token = _local_secret(data_dir, "carrier_auth_token")
    raw["carrier"]["auth_token"] = carrier_token
    raw["carrier"]["account_sid"] = "AC" + hashlib.sha256(carrier_token.reveal().encode()).hexdigest()[:32]
    built = {name: _build(cls, name, raw.get(name, {}), problems) for name, cls in _SECTIONS.items()}
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    settings = Settings(**built)
    _validate(settings, problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _merge(base: dict, extra: dict, origin: str) -> None:
    for section, values in extra.items():
        if section not in base or not isinstance(values, dict):
            raise ConfigError(f"{origin}: unknown section [{section}]")
        base[section].update(values)


def _build(cls: type, section: str, values: dict, problems: list[str]) -> object:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in values.keys() - names:
        problems.append(f"[{section}] {key}: unknown setting")
    kwargs = {}
    for name in names:
        if name not in values:
            problems.append(f"[{section}] {name}: missing")
            continue
        try:
            kwargs[name] = _coerce(values[name], hints[name])
        except (TypeError, ValueError) as exc:
            problems.append(f"[{section}] {name}: {exc}")
    if len(kwargs) != len(names):
        return None
    try:
        return cls(**kwargs)
    except ValueError as exc:  # the section's own range checks
        problems.append(f"[{section}] {exc}")
        return None


def _coerce(value: object, kind: object) -> object:
    """Convert a TOML or environment value to the annotated type, or say what was expected."""
    if typing.get_origin(kind) is typing.Literal:
        if value not in typing.get_args(kind):
            raise ValueError(f"expected one of {', '.join(map(repr, typing.get_args(kind)))}, got {value!r}")
        return value
    if isinstance(kind, types.UnionType):
        options = typing.get_args(kind)
        if type(None) in options and (value is None or value == ""):
            return None  # TOML has no null: "" means none
        kind = next(option for option in options if option is not type(None))
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        raise ValueError("required secret is not set in the environment")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind is Path:
        return Path(str(value))
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple and args[1:] == (Ellipsis,):
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(_coerce(item, args[0]) for item in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"expected a table, got {value!r}")
        return {_coerce(k, args[0]): _coerce(v, args[1]) for k, v in value.items()}
    raise TypeError(f"unsupported setting type {kind!r}")


def _validate(settings: Settings, problems: list[str]) -> None:
    server, db, auth = settings.server, settings.database, settings.auth
    if not 0 <= server.port <= 65535:
        problems.append(f"[server] port: {server.port} is not a TCP port")
    if server.public_base_url and not _is_url(server.public_base_url, ("http", "https")):
        problems.append("[server] public_base_url (PUBLIC_BASE_URL): expected an http(s) URL")
    if server.log_format not in ("json", "text"):
        problems.append('[server] log_format: expected "json" or "text"')
    if server.max_body_bytes < 1024:
        problems.append("[server] max_body_bytes: must be at least 1024")
    for origin in server.cors_origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or origin != f"{parts.scheme}://{parts.netloc}":
            problems.append(f'[server] cors_origins: {origin!r} is not an origin like "https://app.example.com"')
    if db.url and not _is_url(db.url, ("postgres", "postgresql")):
        problems.append("[database] url (DATABASE_URL): expected a postgresql:// URL")
    if not 1 <= db.pool_min_size <= db.pool_max_size:
        problems.append("[database] pool sizes: need 1 <= pool_min_size <= pool_max_size")
    if db.recorder_buffer_rows < 1000:
        problems.append("[database] recorder_buffer_rows: must be at least 1000")
    if server.drain_s < 0 or server.goodbye_s < 0:
        problems.append("[server] drain_s and goodbye_s: must not be negative")
    if len(auth.jwt_secret.reveal().encode()) < _MIN_JWT_SECRET_BYTES:
        problems.append(f"JWT_SECRET: must be at least {_MIN_JWT_SECRET_BYTES} bytes long")
    if auth.token_lifetime_s < 60:
        problems.append("[auth] token_lifetime_s: must be at least 60")
    if not _is_url(settings.twilio.api_base, ("http", "https")):
        problems.append("[twilio] api_base (TWILIO_API_BASE): expected an http(s) URL")
    engines = settings.engines
    for job, allowed in (("stt", ("whisper", "openai")), ("tts", ("piper", "openai")), ("llm", ("local", "openai"))):
        if getattr(engines, job) not in allowed:
            problems.append(f"[engines] {job}: expected one of {', '.join(allowed)}")
    if engines.mode not in ("pipeline", "realtime"):
        problems.append("[engines] mode: expected one of pipeline, realtime")
    if engines.mode == "realtime" and settings.openai.api_key is None:
        problems.append('OPENAI_API_KEY: required when [engines] mode = "realtime"')
    uses_openai = [job for job in ("stt", "tts", "llm") if getattr(engines, job) == "openai"]
    if uses_openai and settings.openai.api_key is None:
        problems.append(f'OPENAI_API_KEY: required when [engines] {" and ".join(uses_openai)} = "openai"')
    telephony = settings.telephony
    if telephony.inbound_unknown_caller not in ("message", "reject"):
        problems.append('[telephony] inbound_unknown_caller: expected "message" or "reject"')
    if any(len(code) != 2 or not code.isupper() for code in telephony.allowed_countries):
        problems.append('[telephony] allowed_countries: expected ISO 3166 alpha-2 codes like "US"')
    if settings.twilio.account_sid and settings.twilio.auth_token is None:
        problems.append("TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set")
    if settings.twilio.account_sid and not settings.twilio.from_number:
        problems.append("TWILIO_FROM_NUMBER: required when TWILIO_ACCOUNT_SID is set")
    if not _is_url(settings.openai.base_url, ("http", "https")):
        problems.append("[openai] base_url (OPENAI_BASE_URL): expected an http(s) URL")


def _is_url(value: str, schemes: tuple[str, ...]) -> bool:
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.netloc or parts.query)


def _resolve_data_dir(value: str, env: Mapping[str, str]) -> Path:
    if value != "auto":
        return Path(value).expanduser()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/callmeback")
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "callmeback"


def _local_secret(data_dir: Path, name: str) -> Secret:
    """For a single-machine install: a random secret generated once, readable by its owner only."""
    path = data_dir / "secrets" / name
    try:
        return Secret(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Write a private temp file, then link it into place: a racing process sees either no file or the
    # whole secret, never an empty one, and the first link wins.
    temp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return Secret(path.read_text().strip())
