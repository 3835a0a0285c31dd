"""DKIM signatures verify with the public key, and cover both List-Unsubscribe headers;
an independent verifier (Perl's Mail::DKIM) agrees, and a header added on the way breaks
the signature because every signed header is over-signed."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
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
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import default_renderer
from alerts.models import Delivery
from tests.support.builders import articles, reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
VERIFIER = Path(__file__).resolve().parents[2] / "support" / "dkim_verify.pl"
OVER_SIGNED = (b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post")


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


def _has_mail_dkim() -> bool:
    if shutil.which("perl") is None:
        return False
    probe = subprocess.run(["perl", "-MMail::DKIM::Verifier", "-e", "1"], capture_output=True)
    return probe.returncode == 0


needs_mail_dkim = pytest.mark.skipif(
    not _has_mail_dkim(),
    reason="Perl's Mail::DKIM is not installed (apt-get install libmail-dkim-perl; "
    ".ci/run installs it in CI)",
)


def mail_dkim(data: bytes, public: bytes) -> str:
    """Mail::DKIM's overall result for `data`: pass, fail, invalid, none ..."""
    environment = {
        **os.environ,
        "DKIM_NAME": "newsalerts._domainkey.example.com",
        "DKIM_RECORD": "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode(),
    }
    run = subprocess.run(
        ["perl", str(VERIFIER)], input=data, capture_output=True, env=environment, timeout=60
    )
    assert run.returncode == 0, run.stderr.decode()
    lines = run.stdout.decode().splitlines()
    assert lines and lines[-1].startswith("result "), run.stdout
    return lines[-1].removeprefix("result ")


def _tags(data: bytes) -> dict[bytes, bytes]:
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    [signature] = [line for line in head.split(b"\r\n") if line.startswith(b"DKIM-Signature:")]
    tags = {}
    for part in signature.split(b":", 1)[1].split(b";"):
        name, _, value = part.strip().partition(b"=")
        tags[name] = b"".join(value.split())
    return tags


def _signed_digest(session: Session, settings: Settings, key_pair: tuple[bytes, bytes]) -> bytes:
    private, _ = key_pair
    signer = DkimSigner(selector="newsalerts", domain="example.com", private_key=private)
    reader(session, "ines@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    delivery = session.query(Delivery).one()
    composer = DigestComposer(
        session, settings=settings, renderer=default_renderer(), signer=signer
    )
    return composer.compose(delivery).data


def test_signatures_are_relaxed_and_over_sign_from_subject_and_both_unsubscribe_headers(
    session: Session, settings: Settings, key_pair: tuple[bytes, bytes]
) -> None:
    tags = _tags(_signed_digest(session, settings, key_pair))
    assert tags[b"c"] == b"relaxed/relaxed"
    signed = tags[b"h"].lower().split(b":")
    for name in OVER_SIGNED:
        assert signed.count(name) == 2, (name, signed)


@needs_mail_dkim
def test_an_independent_verifier_passes_a_digest_and_a_confirmation(
    session: Session, settings: Settings, key_pair: tuple[bytes, bytes]
) -> None:
    private, public = key_pair
    data = _signed_digest(session, settings, key_pair)
    assert mail_dkim(data, public) == "pass"
    # Relaxed: a relay that re-folds a header or changes the spaces in a line keeps it valid.
    refolded = data.replace(b"\r\nSubject: ", b"\r\nSubject:   ", 1)
    assert refolded != data and mail_dkim(refolded, public) == "pass"

    signer = DkimSigner(selector="newsalerts", domain="example.com", private_key=private)
    subscriber = reader(session, "jo@example.com", confirmed=False)
    session.commit()
    notice = compose_notice(
        Notice.CONFIRM, subscriber, settings=settings, renderer=default_renderer(), signer=signer
    )
    assert mail_dkim(notice.data, public) == "pass"


@needs_mail_dkim
@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"List-Unsubscribe", b"<https://evil.example/unsubscribe>"),
        (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
        (b"From", b"Bank <alerts@bank.example>"),
        (b"Subject", b"Your account is locked"),
    ],
)
def test_a_second_header_added_above_the_real_one_breaks_the_signature(
    session: Session, settings: Settings, key_pair: tuple[bytes, bytes], name: bytes, value: bytes
) -> None:
    _, public = key_pair
    data = _signed_digest(session, settings, key_pair)
    real = b"\r\n" + name + b": "
    assert data.count(real) == 1
    tampered = data.replace(real, b"\r\n" + name + b": " + value + real, 1)
    assert mail_dkim(tampered, public) == "fail"
    assert not dkim.verify(tampered, dnsfunc=_dns(public))
