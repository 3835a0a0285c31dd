from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from alerts.config import (
    DEVELOPMENT_SECRET,
    SECRET_MIN_BITS,
    estimated_entropy_bits,
    load_settings,
)
from alerts.errors import ConfigError


def _load(**values: object) -> object:
    return load_settings(_env_file=None, **values)


def test_defaults_run_on_a_bare_machine() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite:///newsalerts.db"
    assert settings.redis_url is None and not settings.uses_celery
    assert settings.secret_key == DEVELOPMENT_SECRET


@pytest.mark.parametrize(
    ("written", "used"),
    [
        (
            "postgresql://news@db.example.com/alerts",
            "postgresql+psycopg://news@db.example.com/alerts",
        ),
        (
            "postgres://news@127.0.0.1:5432/alerts",
            "postgresql+psycopg://news@127.0.0.1:5432/alerts",
        ),
        ("sqlite:////var/lib/newsalerts/store.db", "sqlite:////var/lib/newsalerts/store.db"),
    ],
)
def test_database_urls_as_users_write_them(written: str, used: str) -> None:
    assert load_settings(_env_file=None, database_url=written).database_url == used


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("database_url", "mysql://x/y", "DATABASE_URL: expected sqlite:///path"),
        ("database_url", "postgresql:///nohost", "DATABASE_URL: the PostgreSQL URL names no host"),
        ("redis_url", "http://cache", "REDIS_URL: expected redis://host:port/db"),
        ("smtp_url", "smtp://", "SMTP_URL: the SMTP URL names no host"),
        ("smtp_url", "ftp://x", "SMTP_URL: expected smtp://"),
        (
            "smtp_url",
            "smtp://relay.example:25,smtp://relay.example:x",
            "SMTP_URL: the SMTP URL's port",
        ),
        ("base_url", "news.example.com", "BASE_URL: expected an absolute http(s) URL"),
        ("base_url", "https://nachrichten.bücher.example", "BASE_URL: expected an ASCII URL"),
        ("base_url", "https://news.example.com/a b", "BASE_URL: expected an ASCII URL"),
        ("mail_from", "alerts\r\nBcc: x@example.com", "MAIL_FROM: expected an address"),
    ],
)
def test_malformed_settings_give_one_line(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**{field: value})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_each_relay_has_one_name_that_never_carries_its_password() -> None:
    settings = load_settings(
        smtp_url=" smtp://news:s%40cret@Relay-A.example:587 , smtps://relay-b.example,"
        "file://./outbox",
        _env_file=None,
    )
    assert settings.smtp_url == (
        "smtp://news:s%40cret@Relay-A.example:587,smtps://relay-b.example,file://./outbox"
    )
    first, second, folder = settings.relays
    # The form the ledger's relay column has always held: the port as written, smtps too.
    assert [first.name, second.name, folder.name] == [
        "smtp:relay-a.example:587",
        "smtp:relay-b.example:",
        "file://./outbox",
    ]
    assert (first.host, first.port, first.use_ssl) == ("relay-a.example", 587, False)
    assert (first.username, first.password) == ("news", "s@cret")
    assert (second.port, second.use_ssl, second.password) == (465, True, None)
    assert folder.folder == Path("outbox")
    assert "cret" not in repr(settings.relays)


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        _load(environment="production")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        _load(environment="production", secret_key="short")
    assert _load(environment="production", secret_key=secrets.token_urlsafe(32))


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        # Long enough, and no secret at all: each of these signs cookies anyone can forge.
        (" " * 32, "SECRET_KEY is too easy to guess"),
        ("a" * 40, "SECRET_KEY is too easy to guess"),
        ("abab" * 10, "SECRET_KEY is too easy to guess"),
        (DEVELOPMENT_SECRET + "!", "SECRET_KEY must be set to a long random value"),
        ("x" + DEVELOPMENT_SECRET + secrets.token_urlsafe(32), "not the development one"),
    ],
)
def test_production_refuses_a_guessable_secret(secret_key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(environment="production", secret_key=secret_key)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "secrets.token_urlsafe" in str(caught.value)  # and how to make a good one


def test_a_random_secret_is_always_strong_enough_for_production() -> None:
    # The estimate must never refuse what the documented command prints.
    for _ in range(200):
        for secret_key in (secrets.token_urlsafe(32), secrets.token_urlsafe(48)):
            assert estimated_entropy_bits(secret_key) >= SECRET_MIN_BITS + 32
            assert _load(environment="production", secret_key=secret_key)


def test_development_keeps_its_public_secret() -> None:
    assert _load(secret_key=" " * 32)
    assert _load().secret_key == DEVELOPMENT_SECRET  # type: ignore[attr-defined]


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("POSTAL_ADDRESS", "2 Sample Road, Testville")
    settings = load_settings(_env_file=None)
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.postal_address == "2 Sample Road, Testville"


@pytest.mark.parametrize(
    ("value", "used"), [("#14213D", "#14213d"), ("#0a7", "#0a7"), (" #f5d90a ", "#f5d90a")]
)
def test_brand_color_is_hex(value: str, used: str) -> None:
    assert load_settings(_env_file=None, brand_color=value).brand_color == used


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("brand_color", "navy", "BRAND_COLOR: expected a colour written #rgb or #rrggbb"),
        ("brand_color", "#14213", "BRAND_COLOR: expected a colour written #rgb or #rrggbb"),
        ("brand_color", "red;}body{x", "BRAND_COLOR: expected a colour written #rgb"),
        (
            "site_logo_url",
            "http://news.example.com/logo.png",
            "SITE_LOGO_URL: expected an https://",
        ),
        ("site_logo_url", "logo.png", "SITE_LOGO_URL: expected an https://"),
        ("site_logo_url", "javascript:alert(1)", "SITE_LOGO_URL: expected an https://"),
        (
            "site_logo_url",
            'https://news.example.com/a"onerror="x.png',
            "SITE_LOGO_URL: expected an ASCII URL without spaces or quotes",
        ),
        ("site_logo_width", 0, "SITE_LOGO_WIDTH: Input should be greater than or equal to 16"),
    ],
)
def test_branding_settings_refuse_what_is_not_safe_to_splice(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**{field: value})
    assert str(caught.value).startswith(message)


def test_a_logo_is_optional_and_https() -> None:
    assert _load(site_logo_url="").site_logo_url is None  # type: ignore[attr-defined]
    logo = "https://news.example.com/static/logo%20dark.png?v=2"
    assert _load(site_logo_url=logo).site_logo_url == logo  # type: ignore[attr-defined]
