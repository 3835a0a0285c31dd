"""Commands that plan, send and preview digests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alerts.cli.common import (
    clear_errors,
    console,
    main,
    open_runtime,
    progress_bar,
    settings_from_env,
)


@main.group()
def digest() -> None:
    """Plan and send digests."""


@digest.command("send")
@click.option(
    "--now",
    "force",
    is_flag=True,
    help="Send to every eligible reader now, whatever their chosen hour.",
)
@clear_errors
def digest_send(force: bool) -> None:
    """Send today's due digests (once per reader and local date, however often it runs)."""
    from alerts.delivery.sending import BatchResult
    from alerts.jobs import plan_and_queue, send_queued_batch
    from subscribers.database import utcnow

    settings = settings_from_env()
    with open_runtime(settings) as runtime:
        if settings.uses_celery:
            from alerts.tasks.publishing import batch_publisher

            with batch_publisher(settings) as publish:
                run = plan_and_queue(runtime, now=utcnow(), force=force, publish=publish)
            _say_planned(run, runtime, force=force)
            console.print(f"Queued {run.batches} batches for the Celery workers.")
            return
        console.print("REDIS_URL is not set: running tasks in-process.")
        result = BatchResult()
        with progress_bar() as progress:
            task = progress.add_task("Sending digests", total=None)
            handed = 0

            def send(batches: list[list[int]], *, urgent: bool) -> None:
                # Each chunk's batches as soon as they are planned: no list of the run.
                nonlocal handed
                handed += sum(map(len, batches))
                progress.update(task, total=handed)
                for batch in batches:
                    result.add(
                        send_queued_batch(runtime, batch, on_message=lambda: progress.advance(task))
                    )

            run = plan_and_queue(runtime, now=utcnow(), force=force, publish=send)
        _say_planned(run, runtime, force=force)
    console.print(
        f"{result.sent} sent, {result.failed} failed, {result.retrying} to retry, "
        f"{result.not_mailable} no longer subscribed."
    )
    for problem in result.relay_problems:
        console.print(f"The relay could not be used: {problem}", markup=False)
    if result.failed:
        sys.exit(1)


@digest.command("keyword-alerts")
@clear_errors
def digest_keyword_alerts() -> None:
    """Plan and send the keyword alerts due now (the scheduler does it every minute)."""
    from alerts.jobs import plan_keyword_alerts_and_queue, send_queued_batch
    from subscribers.database import utcnow

    settings = settings_from_env()
    with open_runtime(settings) as runtime:
        if settings.uses_celery:
            from alerts.tasks.publishing import batch_publisher

            with batch_publisher(settings) as publish:
                plan = plan_keyword_alerts_and_queue(runtime, now=utcnow(), publish=publish)
            console.print(f"{plan.planned} keyword alerts planned and queued.")
            return
        sent = 0

        def send(batches: list[list[int]], *, urgent: bool) -> None:
            nonlocal sent
            for batch in batches:
                sent += send_queued_batch(runtime, batch).sent

        plan = plan_keyword_alerts_and_queue(runtime, now=utcnow(), publish=send)
    console.print(
        f"{plan.planned} keyword alerts planned, {sent} sent; {plan.held_window} readers "
        f"wait for their window, {plan.over_cap} for their next day."
    )


def _say_planned(run: Any, runtime: Any, *, force: bool) -> None:
    """Say what was planned, and write it to the audit log."""
    from alerts.audit import CLI, record
    from subscribers.database import utcnow

    plan = run.plan
    with runtime.session() as session:
        details = {"now": force, "planned": plan.planned, "queued": run.queued}
        record(session, actor=CLI, action="digest.send", details=details, now=utcnow())
        session.commit()
    console.print(
        f"{plan.planned} digests planned, {plan.skipped_empty} skipped (nothing new); "
        f"{run.queued} messages to send."
    )


@digest.command("preview")
@click.option("--email", "address", default=None, help="Preview as this reader would see it.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the HTML part to this file.",
)
@clear_errors
def digest_preview(address: str | None, html_file: Path | None) -> None:
    """Show the digest a reader would get now, without sending or recording anything."""
    from alerts.desk.preview import preview_digest

    with open_runtime() as runtime, runtime.session() as session:
        preview = preview_digest(session, runtime=runtime, email=address)
    if preview is None:
        console.print("Nothing new for this reader: no digest would be sent.")
        return
    console.print(f"To: {preview.recipient}\nSubject: {preview.email.subject}\n", markup=False)
    console.print(preview.email.text, markup=False)
    if html_file is not None:
        html_file.write_text(preview.email.html, encoding="utf-8")
        console.print(f"HTML part written to {html_file}")
