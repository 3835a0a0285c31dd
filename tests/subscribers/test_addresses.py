"""An address checked a second time, through the remembered domain, gets the same answer."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

import subscribers.addresses
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidEmail

ADDRESSES = [
    "Ada@Example.com",
    "ada.lovelace+news@example.com",
    "o'brien@example.co.uk",
    "=cmd|'/ccalc'!a0@example.org",
    "x@bücher.example",
    "Postmaster@example.com",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    '"quoted"@example.com',
    "ünïcode@example.com",
    "a@b@example.com",
    "a@[192.0.2.1]",
    "a@localhost",
    "a@example",
    "a@-example.com",
    "Name <a@example.com>",
    f"{'l' * 64}@example.com",
    f"{'l' * 65}@example.com",
    f"{'l' * 60}@{'d' * 63}.{'d' * 63}.{'d' * 60}.com",
]


def _answer(address: str) -> str:
    try:
        return normalise_email(address)
    except InvalidEmail as error:
        return f"refused: {error}"


def _validator(address: str) -> str:
    try:
        checked = validate_email(
            address, check_deliverability=False, allow_smtputf8=False, allow_display_name=False
        )
    except EmailNotValidError as error:
        return f"refused: invalid email address: {error}"
    return (checked.ascii_email or checked.normalized).lower()


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_remembered_domain_gives_the_validators_answer(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers.addresses, "_CHECKED_DOMAINS", {})
    domain = address.rpartition("@")[2]
    first = _answer(f"someone@{domain}")  # remembers the domain when it is valid
    assert first == _validator(f"someone@{domain}")
    assert _answer(address) == _validator(address)
    assert _answer(address) == _answer(address)


def test_a_plain_address_on_a_checked_domain_skips_the_validator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subscribers.addresses, "_CHECKED_DOMAINS", {})
    calls: list[str] = []

    def counting(address: str, **options: bool) -> object:
        calls.append(address)
        return validate_email(address, **options)

    monkeypatch.setattr(subscribers.addresses, "validate_email", counting)
    assert normalise_email("Ada@Example.COM") == "ada@example.com"
    assert normalise_email("Bo.B+x@Example.COM") == "bo.b+x@example.com"
    with pytest.raises(InvalidEmail):
        normalise_email("a..b@Example.COM")  # not plain: the validator says why
    assert calls == ["Ada@Example.COM", "a..b@Example.COM"]
