"""The digest against caniemail's data (the npm package `doiuse-email`): no feature that
Gmail (web, iOS) or Apple Mail (macOS, iOS) lacks, and in Outlook for Windows only the
progressive enhancements it ignores safely (@media, with prefers-color-scheme in it).

Needs node and `npm ci --prefix tests/email_compat` (.ci/run does it); skipped, saying so,
without them. docs/email-compatibility.md records what it reports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alerts.config import Settings
from tests.support.rendered import digest_html

HERE = Path(__file__).resolve().parent
CLI = HERE / "node_modules" / "doiuse-email" / "bin" / "cli.js"
# caniemail's names of the clients the figure is about.
CLIENTS = ("gmail.desktop-webmail", "gmail.ios", "apple-mail.macos", "apple-mail.ios",
           "outlook.windows")  # fmt: skip
# Ignored by Outlook for Windows, which then shows the light, desktop-width email as designed.
PROGRESSIVE = {"outlook.windows": {"@media", "@media (prefers-color-scheme)"}}
_ERROR = re.compile(r"^`(?P<feature>.+)` is not supported by `(?P<client>[\w.-]+)`$")
BRANDED = {"brand_color": "#f5d90a", "site_logo_url": "https://news.example.com/logo.png"}


def doiuse_email(html: str, tmp_path: Path) -> dict[str, list[str]]:
    """What caniemail's data says of `html` for CLIENTS: {"errors": [...], "notes": [...]}."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the caniemail check needs node 18 or later")
    if not CLI.exists():
        pytest.skip("doiuse-email is not installed: run `npm ci --prefix tests/email_compat`")
    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    answer = subprocess.run(
        [node, str(CLI), f"--email-clients={','.join(CLIENTS)}", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(answer.stdout)
    return {"errors": report.get("errors", []), "notes": report.get("notes", [])}


def unsupported(errors: list[str]) -> dict[str, set[str]]:
    """The features reported unsupported, by client."""
    found: dict[str, set[str]] = {}
    for error in errors:
        match = _ERROR.match(error)
        assert match, f"doiuse-email said something unexpected: {error}"
        found.setdefault(match["client"], set()).add(match["feature"])
    return found


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_digest_uses_nothing_gmail_apple_mail_or_outlook_lacks(
    session: Session, settings: Settings, tmp_path: Path, language: str
) -> None:
    html = digest_html(session, settings.model_copy(update=BRANDED), language=language)
    # The digest tested is the one the figure is about: dark mode and the logo in it.
    assert "prefers-color-scheme: dark" in html and "logo.png" in html
    found = unsupported(doiuse_email(html, tmp_path)["errors"])
    beyond = {
        client: features - PROGRESSIVE.get(client, set())
        for client, features in found.items()
        if features - PROGRESSIVE.get(client, set())
    }
    assert beyond == {}, f"unsupported beyond progressive enhancement: {beyond}"


def test_the_check_sees_an_unsupported_feature(tmp_path: Path) -> None:
    """The check can fail: flexbox and overflow-wrap are reported where caniemail says."""
    html = (
        '<!DOCTYPE html><html><body><div style="display:flex;overflow-wrap:anywhere">'
        "<p>Hello</p></div></body></html>"
    )
    found = unsupported(doiuse_email(html, tmp_path)["errors"])
    assert "overflow-wrap" in found["gmail.desktop-webmail"]
    assert {"overflow-wrap", "display:flex"} <= found["outlook.windows"]
