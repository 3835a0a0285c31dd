"""The demo outbox: an index.html listing every delivered .eml, with an HTML preview of each."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from alerts.errors import OutboxError

MARKER = ".newsalerts-outbox"


def prepare_outbox(folder: Path) -> Path:
    """Create the folder, or clear a previous demo's output; never touch a foreign folder."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise OutboxError(
            f"{folder} is not empty and was not made by newsalerts; choose another --out"
        )
    messages = folder / "messages"
    if messages.exists():
        for stale in messages.iterdir():
            stale.unlink()
    messages.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by newsalerts demo; safe to delete\n")
    return messages


@dataclass(frozen=True)
class OutboxEntry:
    eml: str
    preview: str
    recipient: str
    subject: str
    date: str


def _html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def _row(entry: OutboxEntry) -> str:
    to, subject = html.escape(entry.recipient), html.escape(entry.subject)
    preview, eml = html.escape(entry.preview), html.escape(entry.eml)
    return (
        f'<tr><td>{to}</td><td><a href="{preview}">{subject}</a></td>'
        f'<td><a href="{eml}">.eml</a></td></tr>'
    )


def write_index(folder: Path, *, title: str) -> list[OutboxEntry]:
    """Write index.html and one preview page per message; return what was listed."""
    entries = []
    for eml in sorted((folder / "messages").glob("*.eml")):
        parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        preview = eml.with_suffix(".html")
        preview.write_text(_html_part(parsed), encoding="utf-8")
        entries.append(
            OutboxEntry(
                eml=f"messages/{eml.name}",
                preview=f"messages/{preview.name}",
                recipient=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                date=str(parsed["Date"]),
            )
        )
    entries.sort(key=lambda entry: entry.recipient)
    rows = "\n".join(_row(entry) for entry in entries)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1b; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }}
a {{ color: #1f4fa3; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{len(entries)} messages. A subject opens the HTML part; .eml is the whole message.</p>
<table><thead><tr><th>To</th><th>Subject</th><th>Message</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    (folder / "index.html").write_text(page, encoding="utf-8")
    return entries
