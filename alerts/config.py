"""Settings: one typed object, built from the environment (and a `.env` file) at the edge."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.errors import ConfigError

DEVELOPMENT_SECRET = "development-only-secret-change-me"
# What production asks of SECRET_KEY (refuse_weak_secret), and how to make one that passes.
SECRET_MIN_LENGTH = 32
SECRET_MIN_BITS = 128
SECRET_KEY_ADVICE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' makes one"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_HEX_COLOUR = re.compile(r"^#(?:[0-9A-Fa-f]{3}){1,2}$")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
_SMTP_EXPECTED = "expected smtp://user:pass@host:port, smtps://... or file:///folder"


class Settings(BaseSettings):
    """Everything newsalerts reads from its environment; names are the public contract."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True
    )

    environment: Literal["development", "production"] = Field(
        default="development", validation_alias="NEWSALERTS_ENV"
    )
    database_url: str = "sqlite:///newsalerts.db"
    redis_url: str | None = None
    smtp_url: str = "file://./outbox"
    secret_key: str = DEVELOPMENT_SECRET
    base_url: str = "http://localhost:8000"
    mail_from: str = "Example News alerts <alerts@example.com>"
    postal_address: str = "Example News, 1 Example Street, Exampletown EX1 2MP"
    site_name: str = "Example News"
    site_url: str = "https://news.example.com"
    list_id: str = "daily.news-alerts.example.com"
    batch_size: int = Field(default=200, ge=1, le=5000)
    # Messages marked "sending" per commit: fewer commits, but a worker killed outright
    # leaves up to this many readers whose digest's fate is unknown (never re-sent).
    send_group_size: int = Field(default=20, ge=1, le=500)
    # Messages a second all workers together hand to each relay (0: no cap).
    smtp_rate: int = Field(default=0, ge=0)
    # Connections all workers together may hold open to each relay at once (0: no cap).
    smtp_max_connections: int = Field(default=0, ge=0, le=1000)
    # Temporary SMTP failures: retried after RETRY_BASE_SECONDS, doubling, at most
    # RETRY_MAX_DELAY_SECONDS apart, for RETRY_WINDOW_HOURS after the message was planned
    # (never past the reader's next digest); then failed.
    retry_base_seconds: int = Field(default=120, ge=1)
    retry_max_delay_seconds: int = Field(default=3600, ge=1)
    retry_window_hours: float = Field(default=6.0, gt=0, le=24 * 7)
    # Optional DKIM signing of every message (RSA key in PEM; domain defaults to MAIL_FROM's).
    dkim_private_key_file: str | None = None
    dkim_selector: str = "newsalerts"
    dkim_domain: str | None = None
    # Bounces: the VERP return-path domain (default: MAIL_FROM's) and provider webhooks.
    bounce_domain: str | None = None
    webhook_postmark_user: str | None = None
    webhook_postmark_password: str | None = None
    webhook_sendgrid_public_key: str | None = None
    webhook_mailgun_signing_key: str | None = None
    webhook_ses_topic_arn: str | None = None
    webhook_max_age_seconds: int = Field(default=600, ge=1)
    # A batch's claim on its rows; a worker silent for longer is presumed dead.
    claim_lease_seconds: int = Field(default=600, ge=1)
    # A queued batch not claimed after this long is queued again (its message was lost).
    requeue_seconds: int = Field(default=600, ge=1)
    # A notice (sign-up confirmation) still pending this long after it was queued: the
    # tick sends it (its message was lost). Short: a reader is waiting for this email.
    notice_requeue_seconds: int = Field(default=60, ge=1)
    # Local dates of ledger rows kept, today included; the scheduler deletes older rows
    # once a day (alerts.ledger.retention).
    ledger_keep_days: int = Field(default=90, ge=1, le=36_500)
    # Breaking-news alerts one reader gets at most per local day (0: none at all).
    alerts_per_day: int = Field(default=3, ge=0, le=50)
    # The zone of readers who signed up without one (the snippet works without JavaScript).
    default_timezone: str = "UTC"
    # Publisher origins whose pages may post the sign-up form, comma-separated.
    allowed_origins: str = ""
    # A sign-up form submitted faster than this after it was served is a bot's.
    form_min_seconds: float = Field(default=2.0, ge=0)
    # How many reverse proxies in front of the web app set X-Forwarded-For.
    proxy_count: int = Field(default=0, ge=0, le=5)
    # Argon2 costs of staff passwords: "default" (~0.5 s a hash) or "fast", a cheap profile
    # for tests and development that production refuses.
    password_hash_cost: Literal["default", "fast"] = "default"
    # How long a staff login lasts without signing in again.
    staff_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str | None = None
    # Feeds on loopback, link-local and private addresses (a feed server on the same
    # network): refused unless set, so a feed URL or its redirect cannot reach internal
    # services.
    feeds_allow_private: bool = False
    # The site's language (BCP 47: en, de, pt-BR, ar): every email's `lang`, and its
    # direction (right to left for Arabic, Hebrew, Persian, Urdu ...).
    default_language: str = "en"
    # How many words or phrases a reader may follow (keyword alerts, subscribers.keywords).
    keywords_per_reader: int = Field(default=10, ge=0, le=100)
    # Keyword alerts as it happens: at most one email per reader in this many minutes,
    # batching every story matched since the last (alerts.digests.as_it_happens).
    keyword_alert_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # The name the SMTP client gives in its EHLO greeting (this machine's name if unset,
    # which a container often gives as a bare address, such as [127.0.0.1]).
    smtp_helo_name: str | None = None
    # Branding of the email masthead and the reader pages' header: the publisher's colour
    # (#rgb or #rrggbb; its text is white when white on it meets WCAG AA, else dark ink) and
    # logo (https only, drawn at SITE_LOGO_WIDTH x SITE_LOGO_HEIGHT CSS pixels, with the
    # site's name as its text). Unset: today's navy masthead with the name in words.
    brand_color: str = "#14213d"
    site_logo_url: str | None = None
    site_logo_width: int = Field(default=180, ge=16, le=600)
    site_logo_height: int = Field(default=40, ge=16, le=200)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix") or (
            parts.scheme != "unix" and not parts.hostname
        ):
            raise ValueError("expected redis://host:port/db")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        return ",".join(relay.url for relay in parse_relays(value))

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an absolute http(s) URL such as https://news.example.com")
        if not value.isascii() or any(char.isspace() for char in value):
            # It goes into List-Unsubscribe headers, which are ASCII: use the xn-- form of
            # the host and percent-encode the path.
            raise ValueError("expected an ASCII URL (xn-- host, percent-encoded path)")
        return value.rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        if "\r" in value or "\n" in value or "@" not in value:
            raise ValueError("expected an address such as 'Example News <alerts@example.com>'")
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.environment == "production":
            refuse_weak_secret(self.secret_key)
        if self.environment == "production" and self.password_hash_cost != "default":
            raise ValueError("PASSWORD_HASH_COST=fast is for development and tests only")
        return self

    @field_validator("default_language")
    @classmethod
    def _default_language(cls, value: str) -> str:
        if not _LANGUAGE_TAG.fullmatch(value):
            raise ValueError("expected a BCP 47 language tag such as en, de or pt-BR")
        return value

    @field_validator("smtp_helo_name")
    @classmethod
    def _smtp_helo_name(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not (_HOST_NAME.fullmatch(value) or _address_literal(value)):
            raise ValueError(
                "expected a host name such as mail.example.com, or an address in brackets "
                "such as [192.0.2.1]"
            )
        return value

    @field_validator("brand_color")
    @classmethod
    def _brand_color(cls, value: str) -> str:
        if not _HEX_COLOUR.fullmatch(value.strip()):
            raise ValueError("expected a colour written #rgb or #rrggbb, such as #14213d")
        return value.strip().lower()

    @field_validator("site_logo_url")
    @classmethod
    def _site_logo_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            # Mail clients block or warn about images over plain http, and a page served
            # over https would show a mixed-content warning.
            raise ValueError(
                "expected an https:// URL of an image, such as https://news.example.com/logo.png"
            )
        if not value.isascii() or any(char.isspace() or char in "\"'<>" for char in value):
            raise ValueError("expected an ASCII URL without spaces or quotes (percent-encode them)")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _default_timezone(cls, value: str) -> str:
        from subscribers.errors import InvalidPreference
        from subscribers.preferences import parse_timezone

        try:
            return parse_timezone(value)
        except InvalidPreference as error:
            raise ValueError(error.reason) from None

    @field_validator("allowed_origins")
    @classmethod
    def _allowed_origins(cls, value: str) -> str:
        for origin in filter(None, (part.strip() for part in value.split(","))):
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin such as https://news.example.com")
        return value

    @property
    def uses_celery(self) -> bool:
        return self.redis_url is not None

    @property
    def relays(self) -> tuple[Relay, ...]:
        """The relays of `SMTP_URL`, in the order batches try them."""
        return parse_relays(self.smtp_url)

    @property
    def origins(self) -> frozenset[str]:
        """Origins allowed to post sign-ups: this service's own and the publishers'."""
        own = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        listed = (part.strip().rstrip("/") for part in self.allowed_origins.split(","))
        return frozenset({own, *filter(None, listed)})


@dataclass(frozen=True)
class Relay:
    """One relay of `SMTP_URL`: where a batch hands its messages, and the relay's one name.

    `name` is how every part of newsalerts calls the relay: the ledger's `relay` column
    (the relay of a row's last attempt), the Redis keys of its send rate and connection
    slots, log lines, metrics labels, `/readyz`, the console and `ops status`. It is
    `smtp:host:port` for smtp:// and smtps:// alike, with the port as the URL writes it
    (empty when the URL gives none), or the `file:` URL as written. The ledger has stored
    this form since it first named relays, so a changed form would split one relay's rows
    in two. It never carries the credentials: only `url`, kept out of `repr`, does.
    """

    name: str
    url: str = field(repr=False)
    scheme: Literal["smtp", "smtps", "file"]
    # smtp:// and smtps://: the host and the port to connect to (465 or 25 when unwritten).
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # file://: the folder the messages are written into.
    folder: Path | None = None
    # `?tls=none`, allowed for a relay on loopback only: no STARTTLS, and the credentials
    # may go in clear. Otherwise a relay given credentials must offer TLS.
    tls_none: bool = False

    @property
    def use_ssl(self) -> bool:
        return self.scheme == "smtps"


def parse_relays(smtp_url: str) -> tuple[Relay, ...]:
    """The relays of an `SMTP_URL`: one URL or several separated by commas, in order.

    The one place `SMTP_URL` is split and named. Raises ValueError saying what is wrong
    (Settings reports it as `SMTP_URL: ...`).
    """
    relays = tuple(parse_relay(part.strip()) for part in smtp_url.split(",") if part.strip())
    if not relays:
        raise ValueError(_SMTP_EXPECTED)
    return relays


def parse_relay(url: str) -> Relay:
    """One relay: `smtp://user:pass@host:port`, `smtps://...` or `file:///folder`
    (relative: `file://./x`). Raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Relay(
            name=url, url=url, scheme="file", folder=Path(unquote(parts.netloc + parts.path))
        )
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(_SMTP_EXPECTED)
    if not parts.hostname:
        raise ValueError("the SMTP URL names no host")
    try:
        written_port = parts.port
    except ValueError:
        raise ValueError("the SMTP URL's port is not a number from 0 to 65535") from None
    tls_none = _tls_none(parts.scheme, parts.hostname, parts.query)
    return Relay(
        name=f"smtp:{parts.hostname}:{written_port or ''}",
        url=url,
        scheme="smtps" if parts.scheme == "smtps" else "smtp",
        host=parts.hostname,
        port=written_port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls_none=tls_none,
    )


def _tls_none(scheme: str, host: str, query: str) -> bool:
    """Whether the URL asks for `tls=none`, which only a relay on loopback may: anywhere
    else, a path without TLS is one an attacker can read the password from."""
    values = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == "tls"]
    if not values:
        return False
    if values != ["none"]:
        raise ValueError("the SMTP URL's tls= may only be tls=none (for a relay on loopback)")
    if scheme == "smtps":
        raise ValueError("tls=none contradicts smtps://")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"tls=none is allowed only for a relay on loopback (127.0.0.1 or [::1]), not {host}"
        )
    return True


def _address_literal(value: str) -> bool:
    """Whether `value` is an SMTP address literal: [192.0.2.1] or [IPv6:2001:db8::1]."""
    if not (value.startswith("[") and value.endswith("]")):
        return False
    inner = value[1:-1]
    ipv6 = inner[:5].lower() == "ipv6:"
    try:
        address = ipaddress.ip_address(inner[5:] if ipv6 else inner)
    except ValueError:
        return False
    return address.version == (6 if ipv6 else 4)


def refuse_weak_secret(secret_key: str) -> None:
    """Refuse a `SECRET_KEY` an attacker could guess; production calls this.

    The key signs every session cookie and link token, so a guessed key is every staff
    account and every reader's data. Its length alone proves nothing (32 spaces, or the
    public development secret with a character added, are long), so the key must also
    carry at least `SECRET_MIN_BITS` by a simple estimate: its length times the Shannon
    entropy of its characters' frequencies. That estimate is generous to a key a person
    made up, never harsh to a random one: `secrets.token_urlsafe(32)` scores about 200.
    Raises ValueError naming the variable and how to make a good key.
    """
    if not secret_key or DEVELOPMENT_SECRET in secret_key:
        raise ValueError(
            "SECRET_KEY must be set to a long random value in production, not the "
            f"development one ({SECRET_KEY_ADVICE})"
        )
    if len(secret_key) < SECRET_MIN_LENGTH:
        raise ValueError(
            f"SECRET_KEY must be at least {SECRET_MIN_LENGTH} characters in production "
            f"({SECRET_KEY_ADVICE})"
        )
    bits = estimated_entropy_bits(secret_key)
    if bits < SECRET_MIN_BITS:
        raise ValueError(
            f"SECRET_KEY is too easy to guess for production: about {bits:.0f} bits of "
            f"entropy, {SECRET_MIN_BITS} needed ({SECRET_KEY_ADVICE})"
        )


def estimated_entropy_bits(text: str) -> float:
    """Length times the Shannon entropy of the characters' frequencies, in bits.

    A string of one repeated character scores 0; it counts the variety that is there,
    not the alphabet the string may have been drawn from."""
    counts = Counter(text)
    total = len(text)
    return sum(count * math.log2(total / count) for count in counts.values())


def normalise_database_url(value: str) -> str:
    """Accept the forms users write (`postgres://`, `postgresql://`) and pick our driver."""
    parts = urlsplit(value)
    scheme = parts.scheme
    if scheme not in _DATABASE_SCHEMES:
        raise ValueError("expected sqlite:///path or postgresql://user@host/db")
    if scheme == "sqlite":
        return value
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("the PostgreSQL URL names no host")
    return "postgresql+psycopg" + value[len(scheme) :]


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{location}: {message}") from None
