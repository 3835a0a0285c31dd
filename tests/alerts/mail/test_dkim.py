"""DKIM signatures verify with the public key, and cover both List-Unsubscribe headers."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.planning import plan_digests
from alerts.errors import ConfigError
from alerts.mail.digest import DigestComposer
from alerts.mail.dkim import DkimSigner
from alerts.mail.rendering import default_renderer
from alerts.models import Delivery
from tests.support.builders import articles, reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _dns(public: bytes) -> object:
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"newsalerts._domainkey.example.com." else None

    return lookup


def test_digest_is_signed_over_both_unsubscribe_headers(
    session: Session, settings: Settings, key_pair: tuple[bytes, bytes], tmp_path: Path
) -> None:
    private, public = key_pair
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private)
    signer = DkimSigner.from_file(key_file, selector="newsalerts", domain="example.com")
    reader(session, "ines@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    delivery = session.query(Delivery).one()
    composer = DigestComposer(
        session, settings=settings, renderer=default_renderer(), signer=signer
    )
    data = composer.compose(delivery).data

    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=_dns(public))
    signed = re.search(rb"h=([^;]+);", data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b""))
    assert signed is not None
    names = {name.strip().lower() for name in signed.group(1).split(b":")}
    assert {b"list-unsubscribe", b"list-unsubscribe-post", b"from", b"feedback-id"} <= names
    # A changed List-Unsubscribe-Post breaks the signature.
    tampered = data.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click")
    assert not dkim.verify(tampered, dnsfunc=_dns(public))


def test_a_missing_or_wrong_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        DkimSigner.from_file(tmp_path / "absent.pem", selector="s", domain="example.com")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match="no PEM private key"):
        DkimSigner.from_file(junk, selector="s", domain="example.com")
