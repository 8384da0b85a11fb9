"""API keys: created once in plain text, stored only as a SHA-256 hash with a visible prefix."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ApiKey, utc_now

KEY_MARK = "iq_"
PREFIX_LENGTH = 12  # "iq_" and 9 random characters: enough to name a key, useless to guess it
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class TenantNameError(ValueError):
    """The tenant name is not 1-64 lower-case letters, digits, dots, dashes or underscores."""


@dataclass(frozen=True)
class NewKey:
    """A key just created: the plain text is shown once and never stored."""

    plaintext: str
    prefix: str
    tenant: str


def hash_key(plaintext: str) -> str:
    """Return the stored form of a key.

    A key carries 256 random bits, so a fast hash is enough: no dictionary attack applies.
    """
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_key(tenant: str, *, session: Session) -> NewKey:
    """Create a key for a tenant; the caller commits and shows the plain text once."""
    if not TENANT_PATTERN.match(tenant):
        raise TenantNameError(
            f"tenant {tenant!r} must be 1-64 lower-case letters, digits, '.', '-' or '_'"
        )
    while True:
        plaintext = KEY_MARK + secrets.token_urlsafe(32)
        prefix = plaintext[:PREFIX_LENGTH]
        if session.get(ApiKey, prefix) is None:
            break
    session.add(ApiKey(prefix=prefix, key_hash=hash_key(plaintext), tenant=tenant))
    session.flush()
    return NewKey(plaintext, prefix, tenant)


def find_tenant(plaintext: str, *, session: Session) -> str | None:
    """Return the tenant of a live key, or None for an unknown or revoked key."""
    statement = select(ApiKey.tenant).where(
        ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None)
    )
    return session.scalar(statement)


def list_keys(*, session: Session, tenant: str | None = None) -> list[ApiKey]:
    """Return every key (or one tenant's), oldest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.prefix)
    if tenant is not None:
        statement = statement.where(ApiKey.tenant == tenant)
    return list(session.scalars(statement))


def revoke_key(prefix: str, *, session: Session) -> bool:
    """Revoke the key with this prefix; return False if there is no such live key."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
