"""All configuration, from ``MORNINGPOST_*`` environment variables and ``.env``.

The names are an interface operators and tests rely on (the README lists them): keep them.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from emails.errors import ConfigError, InvalidAddress
from subscribers.addresses import normalise

ENV_PREFIX = "MORNINGPOST_"
PLACEHOLDER_POSTAL_ADDRESS = (
    "The AI Morning Post, 1 Example Street, Manchester M1 1AA, United Kingdom"
)

# Real, publicly documented AI feeds; any list can replace it through MORNINGPOST_FEEDS.
DEFAULT_FEEDS = (
    "https://rss.arxiv.org/rss/cs.AI",
    "https://huggingface.co/blog/feed.xml",
    "https://blog.research.google/feeds/posts/default",
    "https://openai.com/news/rss.xml",
)


# Tokens (prompt + answer, as the backend counts them) the AI desk may use for one issue: the
# facts pack is sent once per piece (lead, deep dive, columns, blurbs), a few thousand tokens
# each time, plus about a thousand written back; 40,000 leaves room for one retry.
DEFAULT_WRITER_MAX_TOKENS = 40_000
DEFAULT_WRITER_TIMEOUT = 60.0
# The key signs every subscriber link: shorter than this, it could be guessed offline from
# one link. Sample runs sign with their own key (SAMPLE_SECRET_KEY), never the operator's.
MIN_SECRET_KEY = 32
SAMPLE_SECRET_KEY = "sample-run-key-links-lead-nowhere-not-for-production"  # noqa: S105 - public


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    data_dir: Path = Path("./var")
    database_url: str | None = None
    transport: Literal["outbox", "ses"] = "outbox"
    sender: str = "The AI Morning Post <briefing@example.com>"
    public_url: str = "http://127.0.0.1:8080"
    secret_key: str | None = None
    # SES feedback: the SNS topic the /sns webhook accepts, the SQS queue `bounces` drains,
    # and how many transient bounces in a row suppress an address.
    sns_topic_arn: str | None = None
    bounces_queue_url: str | None = None
    transient_bounce_limit: int = Field(default=3, ge=1)
    # The subscribe form: sign-ups an hour per client and from everyone together, and
    # whether a reverse proxy of the operator's sets X-Forwarded-For (else it is ignored).
    signups_per_client_hour: int = Field(default=5, ge=1)
    signups_per_hour: int = Field(default=200, ge=1)
    trust_proxy: bool = False
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_FEEDS))
    weather_url: str = "https://api.open-meteo.com"
    city: str = "Manchester, United Kingdom"
    latitude: float = 53.48
    longitude: float = -2.24
    max_send_rate: float | None = Field(default=None, gt=0)
    # Sending threads, unset: sized from the send rate and the calls' latency as the send
    # goes (Little's law, pipeline/sending/pace.py). A crash leaves at most one call per
    # thread (x 50 deliveries) unknown.
    send_concurrency: int | None = Field(default=None, ge=1, le=64)
    # Seconds a claimed delivery stays a send process's without a heartbeat: a dead
    # process's deliveries are unknown (and resendable) this long after it died.
    send_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    ses_configuration_set: str | None = None  # SES events (bounces...) are published through it
    unsubscribe_mailto: str | None = None  # address for List-Unsubscribe's mailto, after the URL
    editorial_dir: Path = Path("./content")
    timezone: str = "Europe/London"
    draft_time: dt.time = dt.time(5, 0)
    send_time: dt.time = dt.time(6, 30)
    cutoff_time: dt.time = dt.time(10, 0)
    require_approval: bool = False
    editors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    postal_address: str = PLACEHOLDER_POSTAL_ADDRESS
    # Fewer featured items than this and assembly fails rather than draft a thin issue.
    min_items: int = Field(default=5, ge=0)
    # The reading section's name on every day; unset: "Weekend Reading" on Saturdays and
    # Sundays, "Further Reading" on other days.
    reading_heading: str | None = Field(default=None, max_length=40)
    source_timeout: float = Field(default=10.0, gt=0)  # seconds, per request to a source
    # The AI desk (pipeline.writer): who writes the prose, and what it may spend per issue.
    # Declared in this order on purpose: the validators of url and model read ``writer``.
    writer: Literal["none", "openai", "bedrock"] = "none"
    writer_url: str | None = Field(default=None, validate_default=True)
    writer_model: str | None = Field(default=None, validate_default=True)
    writer_api_key: SecretStr | None = None  # SecretStr: never shown by repr() or a traceback
    writer_max_tokens: int = Field(default=DEFAULT_WRITER_MAX_TOKENS, ge=1_000)
    # Seconds each call to the writer may take (one retry follows a timeout); a local model
    # on a CPU may need minutes, a hung server must not hold the morning up for long.
    writer_timeout: float = Field(default=DEFAULT_WRITER_TIMEOUT, gt=0, le=600)
    # Metrics: the scheduler serves /metrics and /healthz on METRICS_HOST:METRICS_PORT (unset:
    # off); the web app serves /metrics only to requests bearing METRICS_TOKEN (unset: off).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_token: SecretStr | None = None

    @field_validator("feeds", "editors", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"not a JSON list of strings ({err.msg})") from None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError("not a JSON list of strings")
        return parsed

    @field_validator("editors")
    @classmethod
    def _editor_addresses(cls, value: list[str]) -> list[str]:
        # Test copies go to these: the same rules as every other entry of an address.
        try:
            return [normalise(raw).email for raw in value]
        except InvalidAddress as err:
            raise ValueError(str(err)) from None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("writer_url")
    @classmethod
    def _writer_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("writer") == "openai":
                raise ValueError(
                    "required when MORNINGPOST_WRITER=openai (e.g. http://localhost:11434/v1)"
                )
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("writer_model")
    @classmethod
    def _writer_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        writer = info.data.get("writer")
        if value is None and writer in ("openai", "bedrock"):
            raise ValueError(f"required when MORNINGPOST_WRITER={writer}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'morningpost.db'}"

    @property
    def writer_api_key_value(self) -> str | None:
        return self.writer_api_key.get_secret_value() if self.writer_api_key else None

    @property
    def metrics_token_value(self) -> str | None:
        return self.metrics_token.get_secret_value() if self.metrics_token else None

    @property
    def has_placeholder_address(self) -> bool:
        return self.postal_address == PLACEHOLDER_POSTAL_ADDRESS

    def require_secret_key(self) -> str:
        how = "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        if not self.secret_key:
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY is not set: it signs subscriber links; "
                f"set it to a long random string {how}"
            )
        if len(self.secret_key) < MIN_SECRET_KEY:
            raise ConfigError(
                f"{ENV_PREFIX}SECRET_KEY is {len(self.secret_key)} characters: it signs "
                f"subscriber links, so use at least {MIN_SECRET_KEY} random ones {how}"
            )
        return self.secret_key

    def issue_time(self, date: dt.date) -> dt.datetime:
        """When the issue of ``date`` goes out: ``send_time`` in the newsletter's time zone."""
        return dt.datetime.combine(date, self.send_time, tzinfo=self.zone)

    def today(self) -> dt.date:
        """Today's date in the newsletter's time zone, which names the issue."""
        return dt.datetime.now(self.zone).date()


def load_settings() -> Settings:
    """Read the settings, turning a validation error into one ``ConfigError`` line."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
