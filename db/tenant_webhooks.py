"""Each tenant's webhook signing secret (shown once when made) and default callback URL."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from db.api_keys import TENANT_PATTERN, TenantNameError
from db.models import TenantWebhook, utc_now

SECRET_MARK = "whsec_"


class NoSecretError(LookupError):
    """The tenant has no webhook secret yet."""


def rotate_secret(tenant: str, *, session: Session) -> str:
    """Give a tenant a new signing secret (replacing any old one) and return it."""
    if not TENANT_PATTERN.match(tenant):
        raise TenantNameError(
            f"tenant {tenant!r} must be 1-64 lower-case letters, digits, '.', '-' or '_'"
        )
    secret = SECRET_MARK + secrets.token_urlsafe(32)
    row = session.get(TenantWebhook, tenant, with_for_update=True)
    if row is None:
        session.add(TenantWebhook(tenant=tenant, secret=secret, updated_at=utc_now()))
    else:
        row.secret, row.updated_at = secret, utc_now()
    session.flush()
    return secret


def set_default_url(tenant: str, url: str | None, *, session: Session) -> None:
    """Set (or clear, with None) the callback URL of the tenant's jobs that name none."""
    row = session.get(TenantWebhook, tenant, with_for_update=True)
    if row is None:
        raise NoSecretError(f"tenant {tenant!r} has no webhook secret yet")
    row.default_url, row.updated_at = url, utc_now()
    session.flush()
