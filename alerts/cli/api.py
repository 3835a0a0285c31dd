"""Commands for the publisher API's tokens."""

from __future__ import annotations

from typing import Any

import click

from alerts.cli.common import clear_errors, console, main, open_runtime


@main.group()
def tokens() -> None:
    """API tokens for the publisher's systems (Authorization: Bearer ...)."""


@tokens.command("create")
@click.option("--name", required=True, help="Who uses it, e.g. 'cms'.")
@click.option(
    "--import-confirmed",
    is_flag=True,
    help="May add readers as already confirmed (consent obtained elsewhere).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["articles", "subscribers", "editions", "alerts"]),
    help="What the token may do; repeat for several (default: everything).",
)
@clear_errors
def tokens_create(name: str, import_confirmed: bool, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once; only its hash is kept."""
    from alerts.access.tokens import create_token
    from subscribers.database import utcnow

    with open_runtime() as runtime, runtime.session() as session:
        token = create_token(
            session,
            name=name,
            can_import_confirmed=import_confirmed,
            scopes=scopes or None,
            now=utcnow(),
        )
        session.commit()
    console.print(f"Token {name!r} (shown only now):", markup=False)
    click.echo(token)


@tokens.command("revoke")
@click.argument("name")
@clear_errors
def tokens_revoke(name: str) -> None:
    """Revoke a token at once."""
    from alerts.access.tokens import revoke_token
    from alerts.errors import AlertsError
    from subscribers.database import utcnow

    with open_runtime() as runtime, runtime.session() as session:
        revoked = revoke_token(session, name=name, now=utcnow())
        session.commit()
    if not revoked:
        raise AlertsError(f"no live token named {name!r}")
    console.print(f"Token {name!r} revoked.", markup=False)


@tokens.command("list")
@clear_errors
def tokens_list() -> None:
    """Every token: its scopes, when it was made, last used and revoked (never its value)."""
    from rich.table import Table

    from alerts.access.tokens import list_tokens

    table = Table(title="API tokens")
    for header in ("name", "scopes", "imports confirmed", "created", "last used", "revoked"):
        table.add_column(header, overflow="fold")
    with open_runtime() as runtime, runtime.session() as session:
        found = list_tokens(session)
        for token in found:
            table.add_row(
                token.name,
                ", ".join(token.scopes) if token.scopes is not None else "everything",
                "yes" if token.can_import_confirmed else "no",
                _when(token.created_at),
                _when(token.last_used_at) if token.last_used_at else "never",
                _when(token.revoked_at) if token.revoked_at else "—",
            )
    console.print(table if found else "No API tokens yet: `newsalerts tokens create --name cms`.")


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
