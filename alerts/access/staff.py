"""Staff accounts (editors, operators, admins): add, authenticate, log out, change, deactivate;
change a role, change one's own password, reset a forgotten one with a one-time code.

Passwords are hashed with Argon2id. A user's `session_version` is in every session cookie
issued to them; raising it (log out, a password change, a deactivation) ends all of those
sessions at once. Functions take a Session, record what they changed in the audit log and
leave the commit to the caller.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime
from functools import lru_cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import audit
from alerts.errors import StaffEmailTaken, StaffError, UnknownStaffUser, WeakPassword
from alerts.models import Role, StaffUser
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidEmail

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes on request is a denial of service
PasswordCost = Literal["default", "fast"]
RESET_HOURS = 24  # a reset code opens the account this long after it was made, once
_RESET_SALT = "staff-password-reset"
RESET_PATH = "/account/reset/"  # the web page a reset link opens (alerts.web.ops_staff)


@lru_cache(maxsize=2)
def password_hasher(cost: PasswordCost = "default") -> PasswordHasher:
    """The hasher of a cost profile: Argon2id's defaults, or a cheap one for tests."""
    if cost == "fast":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


@lru_cache(maxsize=2)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash to verify against when the address is unknown, so both cases take as long."""
    return hasher.hash("not-a-password-anyone-has")


def check_password_rules(password: str) -> None:
    """Raises WeakPassword when `password` may not be used."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("a password cannot be only spaces")


def staff_email(raw: str) -> str:
    """The normalised address. Raises StaffError when it is not an address."""
    try:
        return normalise_email(raw)
    except InvalidEmail as error:
        raise StaffError(str(error)) from None


def get_user(session: Session, email: str) -> StaffUser | None:
    """The staff user with this address (any spelling of it), active or not."""
    try:
        address = normalise_email(email)
    except InvalidEmail:
        return None
    return session.scalar(select(StaffUser).where(StaffUser.email == address))


def login_key(email: str) -> str:
    """The one spelling that every spelling of a sign-in address shares, for counting
    attempts: the address as `get_user` looks it up, so a domain typed with a full-width
    letter counts with its plain spelling. Text that is not an address is NFKC-folded and
    case-folded, which puts a local part typed in full-width letters (refused as an address)
    with the plain one too: counting more spellings together only slows a guesser down."""
    try:
        return normalise_email(email)
    except InvalidEmail:
        return unicodedata.normalize("NFKC", email).strip().casefold()


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.email)))


def add_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    now: datetime,
    actor: str,
    hasher: PasswordHasher | None = None,
) -> StaffUser:
    """Create an active staff user.

    Raises StaffError for a malformed address, WeakPassword, StaffEmailTaken.
    """
    address = staff_email(email)
    check_password_rules(password)
    if get_user(session, address) is not None:
        raise StaffEmailTaken(address)
    user = StaffUser(
        email=address,
        password_hash=(hasher or password_hasher()).hash(password),
        role=Role(role),
        active=True,
        session_version=1,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.added",
        target=f"user:{address}",
        details={"role": user.role.value},
        now=now,
    )
    return user


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    now: datetime,
    hasher: PasswordHasher | None = None,
) -> StaffUser | None:
    """The active user with this address and password, or None, taking about as long for an
    unknown address as for a wrong password. Rehashes a password stored with older costs
    and records the login time; it records nothing in the audit log (the caller knows the
    client's address)."""
    hasher = hasher or password_hasher()
    user = get_user(session, email) if len(password) <= MAX_PASSWORD_LENGTH else None
    if user is None or not user.active:
        _verify(hasher, _dummy_hash(hasher), password)
        return None
    if not _verify(hasher, user.password_hash, password):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = now
    return user


def record_failed_login(session: Session, *, email: str, client: str, now: datetime) -> None:
    """Append `login.failed` by `anonymous` from `client` (an IP address).

    The target is the account's address when `email` is a spelling of a staff user's, so a
    burst of failures on one target is someone guessing that password. Anything else a
    visitor typed (a reader's address, a typo, a password in the wrong field) is not staff
    data and is kept masked (`audit.masked`), as the logs keep addresses.
    """
    user = get_user(session, email)
    target = _target(user) if user is not None else f"user:{audit.masked(email)}"
    audit.record(
        session,
        actor=audit.ANONYMOUS,
        action="login.failed",
        target=target,
        details={"ip": client},
        now=now,
    )


def log_out(session: Session, *, user: StaffUser, now: datetime) -> None:
    """End every session `user` has open: this browser's, their other browsers', and any
    copy of a session cookie taken before (a stolen one included).

    A session is a signed cookie that the server does not store, so the only way to refuse
    a copy of it is to raise the `session_version` it carries. That ends the user's
    sessions on every device, not only this one; a per-session id revoked server-side would
    keep the others but needs a store of sessions read on every request, and signing in
    again is a small price for a logout that a user who fears a stolen cookie can trust.
    """
    user.session_version += 1
    audit.record(session, actor=audit.user_actor(user), action="logout", now=now)


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(
    session: Session,
    *,
    email: str,
    password: str,
    now: datetime,
    actor: str,
    hasher: PasswordHasher | None = None,
) -> StaffUser:
    """Replace a user's password and end every session they have open.

    Raises UnknownStaffUser, WeakPassword.
    """
    user = _existing(session, email)
    check_password_rules(password)
    user.password_hash = (hasher or password_hasher()).hash(password)
    user.session_version += 1
    audit.record(session, actor=actor, action="user.password_set", target=_target(user), now=now)
    return user


def deactivate(session: Session, *, email: str, now: datetime, actor: str) -> StaffUser:
    """Stop a user from logging in and end their sessions (idempotent). Raises
    UnknownStaffUser."""
    user = _existing(session, email)
    if user.active:
        user.active = False
        user.session_version += 1
        audit.record(session, actor=actor, action="user.deactivated", target=_target(user), now=now)
    return user


def _existing(session: Session, email: str) -> StaffUser:
    user = get_user(session, email)
    if user is None:
        raise UnknownStaffUser(email.strip()[:254])
    return user


def _target(user: StaffUser) -> str:
    return f"user:{user.email}"


def change_role(
    session: Session, *, email: str, role: Role, now: datetime, actor: str
) -> StaffUser:
    """Give a user another role; their sessions end, so the new role applies at once.
    Records nothing when the role is the same. Raises UnknownStaffUser."""
    user = _existing(session, email)
    role = Role(role)
    if user.role != role:
        before = user.role
        user.role = role
        user.session_version += 1
        audit.record(session, actor=actor, action="user.role_changed", target=_target(user),
                     details={"from": before.value, "to": role.value}, now=now)  # fmt: skip
    return user


def change_own_password(
    session: Session,
    *,
    user: StaffUser,
    current: str,
    new: str,
    now: datetime,
    hasher: PasswordHasher | None = None,
) -> StaffUser:
    """A signed-in user's new password, given their current one; every session of theirs
    ends (the caller signs this one in again). Raises StaffError for a wrong current
    password, WeakPassword."""
    hasher = hasher or password_hasher()
    if len(current) > MAX_PASSWORD_LENGTH or not _verify(hasher, user.password_hash, current):
        raise StaffError("the current password is not right")
    check_password_rules(new)
    user.password_hash = hasher.hash(new)
    user.session_version += 1
    audit.record(session, actor=audit.user_actor(user), action="user.password_changed",
                 target=_target(user), now=now)  # fmt: skip
    return user


def _reset_serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)


def _fingerprint(user: StaffUser) -> str:
    """Changes with the password and with every ended session: a used code, or one made
    before a later change, no longer matches."""
    seen = f"{user.password_hash}:{user.session_version}:{user.active}"
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def issue_password_reset(
    session: Session, *, email: str, secret_key: str, now: datetime, actor: str
) -> str:
    """A one-time code that lets the holder set a new password for an active user, within
    RESET_HOURS. Nothing is stored: the code is signed and names the password it replaces,
    so setting any new password (with it or otherwise) makes it useless. Raises
    UnknownStaffUser, StaffError for a deactivated user."""
    user = _existing(session, email)
    if not user.active:
        raise StaffError(f"{user.email} is deactivated")
    audit.record(session, actor=actor, action="user.password_reset_issued", target=_target(user),
                 details={"hours": RESET_HOURS}, now=now)  # fmt: skip
    code: str = _reset_serializer(secret_key).dumps([user.id, _fingerprint(user)])
    return code


def reset_url(base_url: str, code: str) -> str:
    """The link that opens the reset page for `code`."""
    return f"{base_url.rstrip('/')}{RESET_PATH}{code}"


def reset_target(session: Session, *, code: str, secret_key: str) -> StaffUser:
    """The user a reset code is for. Raises StaffError when it is expired, used, altered
    or for a deactivated user."""
    try:
        user_id, fingerprint = _reset_serializer(secret_key).loads(
            code[:1000], max_age=RESET_HOURS * 3600
        )
    except SignatureExpired:
        raise StaffError("this reset link has expired; ask an admin for a new one") from None
    except (BadSignature, ValueError, TypeError):
        raise StaffError("this reset link is not valid; ask an admin for a new one") from None
    user = session.get(StaffUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or _fingerprint(user) != fingerprint:
        raise StaffError("this reset link was used or replaced; ask an admin for a new one")
    return user


def reset_password(
    session: Session,
    *,
    code: str,
    password: str,
    secret_key: str,
    now: datetime,
    hasher: PasswordHasher | None = None,
) -> StaffUser:
    """Set a new password with a reset code (once) and end every session of the user.
    Raises StaffError (see reset_target), WeakPassword."""
    user = reset_target(session, code=code, secret_key=secret_key)
    check_password_rules(password)
    user.password_hash = (hasher or password_hasher()).hash(password)
    user.session_version += 1
    audit.record(session, actor=audit.user_actor(user), action="user.password_reset",
                 target=_target(user), now=now)  # fmt: skip
    return user
