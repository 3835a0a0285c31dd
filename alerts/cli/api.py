"""Commands for the publisher API's tokens."""

from __future__ import annotations

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
