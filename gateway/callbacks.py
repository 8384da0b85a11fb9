"""A submission's callback URL: the form field or the tenant's default, checked before
anything is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, HTTPException, status

from core.commands import command_hint
from core.settings import Settings
from core.webhook_target import TargetRefusedError, check_target
from db.tenant_rules import TenantRules

CallbackField = Annotated[
    str | None,
    Form(
        description="https URL that gets one signed `job.finished` event when the job reaches "
        "a final status (default: the tenant's, if set). Private, loopback, link-local and "
        "metadata addresses are refused (422) unless an operator allows them."
    ),
]


def wanted_callback(field: str | None, rules: TenantRules) -> str | None:
    """Return the callback URL a new job asks for: the request's, else the tenant's default."""
    return field or rules.default_callback


def choose_callback(
    field: str | None, tenant: str, rules: TenantRules, settings: Settings
) -> str | None:
    """Return the callback URL a new job gets, or None; 422 when it may not be used."""
    url = wanted_callback(field, rules)
    if not url:
        return None
    if not rules.signs_webhooks:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"tenant {tenant!r} has no webhook secret to sign callbacks with; an operator "
            f"makes one with {command_hint(f'keys webhook-secret --tenant {tenant}')}",
        )
    try:
        check_target(url, settings.webhook_allow_list)
    except TargetRefusedError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return url
