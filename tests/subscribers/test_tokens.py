"""Link tokens: stable for links that never expire, timed for confirmation, keys rotate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

import pytest
from itsdangerous import URLSafeTimedSerializer

from subscribers.errors import InvalidToken
from subscribers.tokens import LINK_KEY_LENGTH, Purpose, TokenSigner, new_link_key, new_link_keys

KEY = new_link_key()


def test_preference_and_unsubscribe_links_are_the_same_every_time() -> None:
    signer = TokenSigner(["k1"])
    for purpose in (Purpose.PREFERENCES, Purpose.UNSUBSCRIBE):
        token = signer.sign(purpose, 42, link_key=KEY)
        assert token == signer.sign(purpose, 42, link_key=KEY)
        assert signer.verify(purpose, token, link_key=KEY) == 42


def test_a_token_only_opens_its_own_purpose_and_reader() -> None:
    signer = TokenSigner(["k1"])
    token = signer.sign(Purpose.UNSUBSCRIBE, 42, link_key=None)
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.PREFERENCES, token, link_key=None)
    mac = token.partition(".")[2]
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.UNSUBSCRIBE, f"43.{mac}", link_key=None)


@pytest.mark.parametrize(
    "token", ["", ".", "42.", "x.abc", "42.é", "٤٢.abc", "-1.abc", "1" * 30 + ".abc", "42.abc.def"]
)
def test_malformed_tokens_are_refused_with_a_clear_error(token: str) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(["k1"]).verify(Purpose.UNSUBSCRIBE, token, link_key=None)


def test_a_rotated_key_still_opens_links_signed_with_the_old_one() -> None:
    old = TokenSigner(["old"]).sign(Purpose.UNSUBSCRIBE, 7, link_key=None)
    rotated = TokenSigner(["new", "old"])
    assert rotated.verify(Purpose.UNSUBSCRIBE, old, link_key=None) == 7
    assert rotated.sign(Purpose.UNSUBSCRIBE, 7, link_key=None) != old
    with pytest.raises(InvalidToken):
        TokenSigner(["new"]).verify(Purpose.UNSUBSCRIBE, old, link_key=None)


def test_timestamped_links_from_earlier_emails_still_work() -> None:
    earlier = URLSafeTimedSerializer(["k1"], salt="newsalerts.unsubscribe").dumps(9)
    assert TokenSigner(["k1"]).verify(Purpose.UNSUBSCRIBE, earlier, link_key=None) == 9


def test_confirmation_links_carry_a_time_and_expire() -> None:
    signer = TokenSigner(["k1"])
    token = signer.sign(Purpose.CONFIRM, 5, link_key=None)
    assert token.count(".") == 2
    assert signer.verify(Purpose.CONFIRM, token, link_key=None) == 5


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_token_opens_only_with_the_link_key_it_was_signed_with(purpose: Purpose) -> None:
    signer = TokenSigner(["k1"])
    token = signer.sign(purpose, 42, link_key=KEY)
    assert signer.verify(purpose, token, link_key=KEY) == 42
    assert KEY not in token
    for other in (new_link_key(), None, ""):
        with pytest.raises(InvalidToken, match="not valid"):
            signer.verify(purpose, token, link_key=other)
    earlier = signer.sign(purpose, 42, link_key=None)
    with pytest.raises(InvalidToken, match="not valid"):
        signer.verify(purpose, earlier, link_key=KEY)


def test_links_of_readers_without_a_key_are_signed_as_before_keys_existed() -> None:
    """The links in emails sent before link keys keep working for their (unchanged) reader."""
    label_key = hmac.new(b"k1", b"newsalerts.link.unsubscribe", hashlib.sha256).digest()
    mac = hmac.new(label_key, b"42", hashlib.sha256).digest()[:16]
    sent_before = "42." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    signer = TokenSigner(["k1"])
    assert signer.sign(Purpose.UNSUBSCRIBE, 42, link_key=None) == sent_before
    assert signer.verify(Purpose.UNSUBSCRIBE, sent_before, link_key=None) == 42
    confirm = URLSafeTimedSerializer(["k1"], salt="newsalerts.confirm").dumps(42)
    assert signer.verify(Purpose.CONFIRM, confirm, link_key=None) == 42


@pytest.mark.parametrize("purpose", list(Purpose))
def test_the_id_a_token_names_is_read_before_its_reader_is_known(purpose: Purpose) -> None:
    signer = TokenSigner(["k1"])
    assert signer.subscriber_id(purpose, signer.sign(purpose, 42, link_key=KEY)) == 42
    too_large = signer.sign(purpose, 2**31, link_key=KEY)
    for malformed in ("", "garbage", "x.y", "-1.abc", "1" * 30 + ".abc", too_large):
        with pytest.raises(InvalidToken):
            signer.subscriber_id(purpose, malformed)


def test_link_keys_are_random_and_fit_their_column() -> None:
    keys = {new_link_key() for _ in range(100)}
    assert len(keys) == 100
    assert {len(key) for key in keys} == {LINK_KEY_LENGTH}


def test_link_keys_made_many_at_once_look_like_those_made_one_by_one() -> None:
    alphabet = set(string.ascii_letters + string.digits + "-_")
    keys = new_link_keys(1000)
    assert len(keys) == len(set(keys)) == 1000
    assert {len(key) for key in keys} == {LINK_KEY_LENGTH}
    assert set("".join(keys)) <= alphabet
    assert set("".join(new_link_key() for _ in range(1000))) <= alphabet
    assert new_link_keys(0) == []
