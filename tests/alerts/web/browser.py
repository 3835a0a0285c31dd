"""Helpers for the browser tests: Chromium, a publisher's article site, screenshots, plain HTTP.

Kept apart from the tests so that the journey reads as a story.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Playwright, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


# --- the publisher's site ------------------------------------------------------------------


class _ArticleHandler(BaseHTTPRequestHandler):
    server: _ArticleHTTPServer

    def do_GET(self) -> None:
        body = self.server.pages.get(urlsplit(self.path).path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


class _ArticleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    pages: dict[str, str]


class ArticleSite:
    """A publisher's site on its own loopback port, serving static article pages.

    Its origin is http://localhost:<port> while the alerts service is on
    http://127.0.0.1:<port>: a different *site*, so the sign-up form posts cross-site
    exactly as it does from a real newspaper page.
    """

    def __init__(self) -> None:
        self._server = _ArticleHTTPServer(("127.0.0.1", 0), _ArticleHandler)
        self._server.pages = {}
        self.port = int(self._server.server_address[1])
        self.origin = f"http://localhost:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def publish(self, path: str, html: str) -> str:
        self._server.pages[path] = html
        return self.origin + path


def article_page(snippet: str, *, headline: str = "Polls close in the regional election") -> str:
    """An article page as a publisher has it, with the pasted sign-up snippet at the end."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(headline)} — Example News</title>
<style>
  body {{ margin: 0; font-family: Georgia, "Times New Roman", serif; color: #222; }}
  .masthead {{ background: #8c1c13; color: #fff; padding: .8rem 1rem; font: 700 1.4rem serif; }}
  article {{ max-width: 42rem; margin: 0 auto; padding: 1rem; }}
  nav {{ font: .9rem system-ui, sans-serif; color: #555; }}
  nav a {{ color: #8c1c13; }}
  h1 {{ font-size: 1.9rem; line-height: 1.2; margin: .5rem 0; }}
  time {{ font: .9rem system-ui, sans-serif; color: #555; }}
  .standfirst {{ font-size: 1.2rem; color: #333; }}
  aside {{ border-top: 3px solid #8c1c13; margin: 1.5rem 0; font-family: system-ui, sans-serif; }}
</style>
</head>
<body>
<div class="masthead">Example News</div>
<article>
  <nav aria-label="Breadcrumb">
    <a href="/">Home</a> &rsaquo; <a href="/politics">Politics</a> &rsaquo; News
  </nav>
  <h1>{escape(headline)}</h1>
  <time datetime="2026-11-03T21:00:00+01:00">3 November 2026, 21:00</time>
  <p class="standfirst">Turnout was the highest in twenty years as voters queued past
  closing time.</p>
  <p>Polling stations across the region closed at 21:00 local time, with queues still outside
  several schools in the capital. Counting begins overnight.</p>
  <p>Officials said the first results are expected shortly after midnight.</p>
  <aside><strong>Read more on Elections</strong>
    <ul><li><a href="/politics/debate">What the candidates said in the last debate</a></li></ul>
  </aside>
  {snippet}
</article>
</body>
</html>
"""


# --- screenshots ---------------------------------------------------------------------------


def screenshot_folder(tmp_path: Path) -> Path:
    """Where the photographs go: NEWSALERTS_SCREENSHOTS when set (docs/screenshots keeps them),
    else the test's own temporary folder. Made if it is missing."""
    folder = Path(os.environ.get("NEWSALERTS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Screenshots:
    """Each page of the journey at phone and desktop width, full length."""

    directory: Path

    def capture(self, page: Page, name: str) -> list[Path]:
        self.directory.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size
        taken = []
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            path = self.directory / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            taken.append(path)
        if original:
            page.set_viewport_size(original)
        return taken


# --- readability ---------------------------------------------------------------------------

_LOW_CONTRAST_JS = """(minimum) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const found = [];
  for (const element of document.querySelectorAll("body *")) {
    const ownText = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (!ownText || box.width < 2 || box.height < 2 || style.visibility === "hidden") continue;
    const behind = background(element);
    const fore = luminance(parse(style.color)), back = luminance(behind);
    const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
    if (ratio < minimum) {
      found.push(`${element.tagName.toLowerCase()} "${element.textContent.trim().slice(0, 40)}"`
        + ` ${style.color} on rgb(${behind.r}, ${behind.g}, ${behind.b}): ${ratio.toFixed(2)}`);
    }
  }
  return found;
}"""


def low_contrast(page: Page, minimum: float = 4.5) -> list[str]:
    """Visible text whose contrast with the background behind it is below WCAG AA."""
    return list(page.evaluate(_LOW_CONTRAST_JS, minimum))


# --- emails --------------------------------------------------------------------------------


def message_texts(message: EmailMessage) -> str:
    """Every header and decoded body part of a message, as one string to search."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert isinstance(part, EmailMessage)
            parts.append(part.get_content())
    return "\n".join(parts)


def link_in(message: EmailMessage, base_url: str, kind: str) -> str:
    """The /<kind>/<token> link in the text part of a message."""
    body = message.get_body(("plain",))
    assert body is not None, "the email has no text part"
    text = body.get_content()
    match = re.search(re.escape(base_url) + r"/" + kind + r"/[A-Za-z0-9._~-]+", text)
    assert match, f"no /{kind}/ link in the email:\n{text}"
    return match.group(0)


# --- plain HTTP, as a mailbox provider speaks it ------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def post(url: str, body: bytes, content_type: str) -> Answer:
    """POST without cookies and without following redirects; any status is returned."""
    opener = urllib.request.build_opener(_NoRedirect())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "User-Agent": "mailbox-provider/1.0"},
    )
    try:
        with opener.open(request, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read().decode())


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = f"----newsalerts{uuid.uuid4().hex}"
    lines = []
    for name, value in fields.items():
        lines += [f"--{boundary}", f'Content-Disposition: form-data; name="{name}"', "", value]
    lines += [f"--{boundary}--", ""]
    return "\r\n".join(lines).encode(), f"multipart/form-data; boundary={boundary}"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)
