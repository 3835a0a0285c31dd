"""Credentials of publisher systems (a CMS pushing articles): create, revoke, authenticate.

A token is 32 random bytes shown once; only its SHA-256 is stored. A slow hash is not
needed: the token is random, not a password a person chose.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import audit
from alerts.errors import AlertsError, TokenNameTaken
from alerts.models import ApiToken

PREFIX = "na_"
# What a token may be allowed to do; a token stored without scopes may do all of it.
SCOPES = ("articles", "subscribers", "editions", "alerts")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    can_import_confirmed: bool = False,
    scopes: Sequence[str] | None = None,
    now: datetime,
    actor: str = audit.CLI,
) -> str:
    """Store a new token and return it; it cannot be shown again. Does not commit.

    `scopes` None (or every scope) lets the token do everything. Raises AlertsError for a
    bad name or an unknown scope, TokenNameTaken.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise AlertsError("a token needs a name of 1 to 100 characters")
    chosen = _scopes(scopes)
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenNameTaken(name)
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            token_hash=_digest(token),
            can_import_confirmed=can_import_confirmed,
            scopes=chosen,
            created_at=now,
        )
    )
    session.flush()
    details = {"scopes": chosen or list(SCOPES), "can_import_confirmed": can_import_confirmed}
    audit.record(
        session, actor=actor, action="token.created", target=f"token:{name}", details=details,
        now=now,
    )  # fmt: skip
    return token


def _scopes(scopes: Sequence[str] | None) -> list[str] | None:
    if scopes is None:
        return None
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise AlertsError(f"unknown scope {unknown[0]!r}; the scopes are {', '.join(SCOPES)}")
    if not scopes:
        raise AlertsError("a token needs at least one scope")
    chosen = [scope for scope in SCOPES if scope in scopes]
    return None if chosen == list(SCOPES) else chosen


def allows(token: ApiToken, scope: str) -> bool:
    """Whether the token may act on `scope` (a token without scopes may do everything)."""
    return token.scopes is None or scope in token.scopes


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, live ones first, each kind oldest first (revoked ones stay, for the
    record of who could act when)."""
    return list(
        session.scalars(
            select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at)
        )
    )


def revoke_token(session: Session, *, name: str, now: datetime, actor: str = audit.CLI) -> bool:
    """True if a live token of that name was revoked. Does not commit."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return False
    token.revoked_at = now
    audit.record(session, actor=actor, action="token.revoked", target=f"token:{name}", now=now)
    return True


def authenticate(session: Session, presented: str, *, now: datetime) -> ApiToken | None:
    """The live token matching `presented`, or None. Records when it was last used."""
    if not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    token = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == _digest(presented), ApiToken.revoked_at.is_(None)
        )
    )
    if token is not None:
        token.last_used_at = now
    return token
