"""`inferq keys`: create, list and revoke the API keys the gateway checks; webhook secrets;
tenants' priorities."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.commands import command_hint
from core.priority import Priority, PriorityError, parse_priority
from core.settings import get_settings
from core.webhook_target import TargetRefusedError, check_target
from db.api_keys import TenantNameError, create_key, list_keys, revoke_key
from db.session import get_session
from db.tenant_priorities import (
    TenantPriorities,
    read_tenant_priorities,
    set_tenant_priorities,
)
from db.tenant_webhooks import NoSecretError, rotate_secret, set_default_url

keys_app = typer.Typer(help="API keys (stored hashed; a key is shown once).", no_args_is_help=True)


@contextmanager
def key_store() -> Iterator[Session]:
    """Open the database the gateway checks keys against; one clear line if it cannot."""
    url = get_settings().resolved_database_url
    try:
        with get_session(url) as session:
            yield session
    except DBAPIError as exc:
        typer.echo(
            f"error: cannot use the database ({exc.orig}); has {command_hint('db upgrade')} run?",
            err=True,
        )
        raise typer.Exit(1) from exc


def database_name() -> str:
    """Return the database keys go to, its password hidden."""
    url = make_url(get_settings().resolved_database_url)
    return url.render_as_string(hide_password=True)


@keys_app.command("create")
def create(tenant: str = typer.Option(..., help="Tenant the key acts for (its jobs).")) -> None:
    """Create a key and print it once; only its hash and prefix are kept."""
    with key_store() as session:
        try:
            key = create_key(tenant, session=session)
        except TenantNameError as exc:
            raise typer.BadParameter(str(exc), param_hint="--tenant") from exc
    typer.echo(key.plaintext)
    typer.echo(
        f"key {key.prefix}… for tenant {key.tenant} in {database_name()}: store it now, it "
        "cannot be shown again; a gateway accepts it only if it uses this database",
        err=True,
    )


@keys_app.command("list")
def list_command(tenant: str | None = typer.Option(None, help="Only this tenant's keys.")) -> None:
    """List keys by prefix, tenant, creation and revocation time."""
    with key_store() as session:
        keys = list_keys(session=session, tenant=tenant)
    table = Table("prefix", "tenant", "created", "revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        table.add_row(key.prefix, key.tenant, key.created_at.isoformat(timespec="seconds"), revoked)
    Console(width=120).print(table)


def note_delay(what: str, setting: str, seconds: float) -> None:
    """Say on stderr how long running gateways may go on with what they read before."""
    typer.echo(f"running gateways apply {what} within {seconds:g} s ({setting})", err=True)


@keys_app.command("revoke")
def revoke(
    prefix: str = typer.Argument(..., help="The key's prefix, as `keys list` shows."),
) -> None:
    """Revoke a key: requests carrying it get 401 once gateways stop trusting their last
    lookup of it (INFERQ_KEY_CACHE_SECONDS)."""
    with key_store() as session:
        revoked = revoke_key(prefix, session=session)
    if not revoked:
        typer.echo(f"no live key with prefix {prefix!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {prefix}")
    note_delay("it", "INFERQ_KEY_CACHE_SECONDS", get_settings().key_cache_seconds)


@keys_app.command("webhook-secret")
def webhook_secret(
    tenant: str = typer.Option(..., help="Tenant whose webhooks the secret signs."),
) -> None:
    """Make (or replace) a tenant's webhook signing secret and print it once."""
    with key_store() as session:
        try:
            secret = rotate_secret(tenant, session=session)
        except TenantNameError as exc:
            raise typer.BadParameter(str(exc), param_hint="--tenant") from exc
    typer.echo(secret)
    typer.echo(
        f"webhook secret for tenant {tenant} in {database_name()}: give it to the receiver, "
        "which checks Inferq-Signature with it; events sent from now on use it",
        err=True,
    )


@keys_app.command("webhook-url")
def webhook_url(
    tenant: str = typer.Option(..., help="Tenant whose jobs get this callback by default."),
    url: str = typer.Argument("", help="https URL; empty clears the default."),
) -> None:
    """Set the callback URL of a tenant's jobs that name none (checked like a submitted one)."""
    settings = get_settings()
    if url:
        try:
            check_target(url, settings.webhook_allow_list)
        except TargetRefusedError as exc:
            raise typer.BadParameter(str(exc), param_hint="URL") from exc
    with key_store() as session:
        try:
            set_default_url(tenant, url or None, session=session)
        except NoSecretError as exc:
            hint = command_hint(f"keys webhook-secret --tenant {tenant}")
            typer.echo(f"error: {exc}; make one first with {hint}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"tenant {tenant}: default callback {url or '(none)'}")
    note_delay("it to one-image jobs", "INFERQ_RULES_CACHE_SECONDS", settings.rules_cache_seconds)


def level_option(value: str | None, name: str) -> Priority | None:
    """Read a level given on the command line ("none" clears it)."""
    if value is None or value.lower() == "none":
        return None
    try:
        return parse_priority(value)
    except PriorityError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from exc


@keys_app.command("priority")
def priority(
    tenant: str = typer.Option(..., help="Tenant whose jobs these apply to."),
    default: str | None = typer.Option(
        None, help="Priority of its jobs that ask for none: interactive, normal, bulk or none."
    ),
    cap: str | None = typer.Option(
        None,
        "--max",
        help="Most urgent priority its jobs may get (a job asking more gets this): "
        "interactive, normal, bulk or none.",
    ),
) -> None:
    """Show, or set, a tenant's default priority and the cap an operator puts on it."""
    with key_store() as session:
        current = read_tenant_priorities(tenant, session=session)
        if default is not None or cap is not None:
            chosen = TenantPriorities(
                level_option(default, "--default") if default is not None else current.default,
                level_option(cap, "--max") if cap is not None else current.cap,
            )
            try:
                set_tenant_priorities(tenant, chosen, session=session)
            except TenantNameError as exc:
                raise typer.BadParameter(str(exc), param_hint="--tenant") from exc
            current = chosen
            seconds = get_settings().rules_cache_seconds
            note_delay("it to one-image jobs", "INFERQ_RULES_CACHE_SECONDS", seconds)
    shown_default = current.default or "(by size: interactive for small jobs, else normal)"
    typer.echo(f"tenant {tenant}: default {shown_default}, max {current.cap or 'interactive'}")
