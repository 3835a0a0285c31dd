"""A message's bytes: every email we send is rendered, encoded, addressed and signed here.

- `rendering.py`: one function renders every email (subject, written text, HTML with CSS
  inlined), with markers where each reader's address and links go: the render's own, which
  no article can write.
- `mime.py`: a render encoded once, each reader's values spliced into the encoded body.
- `envelope.py`: From, Message-ID, the list headers, the VERP return path and DKIM, for
  every kind of message; the sender's domain.
- `branding.py`: the publisher's colour, the text colour picked for it (WCAG contrast),
  and the logo, for the email masthead and the reader pages' header.
- `excerpts.py`: headlines and summaries cut to fit an email (word boundaries, balanced
  tags, no bidi controls), whatever a feed put in them.
- `highlights.py`: a reader's keywords picked out in a headline (HTML and text).
- `composing.py`: what the digest and alert composers share: renderer, render cache,
  article loader, envelope builder.
- `digest.py`: the digest email, and the composer of every ledger row (alert rows go on
  to `alert.py`, keyword alerts' to `keyword_alert.py`).
- `alert.py`: the breaking-alert email.
- `keyword_alert.py`: the keyword alert as it happens: the stories that mentioned a
  reader's words since their last one, the words highlighted.
- `notices.py`: the confirmation and "manage your alerts" emails, and a reader's links.
- `tracking.py`: signed click and open links.
- `verp.py`: return paths that name their delivery, so a bounce finds its ledger row.
- `dkim.py`: DKIM signing of the exact bytes we send.

Who gets which message is alerts.digests'; handing it to a relay is alerts.delivery's. The
public names are here; each module's docstring says why it works the way it does.
"""

from alerts.mail.alert import AlertComposer
from alerts.mail.branding import Brand, brand_of, contrast_ratio, text_colour_on
from alerts.mail.composing import ArticleLoader, ComposerParts, RenderCache
from alerts.mail.digest import (
    DigestComposer,
    DigestSpec,
    digest_context,
    render_digest,
    time_label,
    time_marker,
)
from alerts.mail.dkim import DkimSigner
from alerts.mail.envelope import ONE_CLICK, EnvelopeBuilder, sender_address, sender_domain
from alerts.mail.excerpts import cut_summary, cut_title, strip_bidi_controls
from alerts.mail.keyword_alert import KeywordAlertComposer
from alerts.mail.mime import (
    EncodedEmail,
    Envelope,
    build_message,
    encode_email,
    make_message_id,
)
from alerts.mail.notices import Notice, compose_notice, reader_links
from alerts.mail.rendering import (
    EmailRenderer,
    ReaderMarkers,
    ReaderParts,
    RenderedEmail,
    RenderMarkers,
    default_renderer,
    html_to_text,
)
from alerts.mail.tracking import click_url, open_pixel_url, read_tracking_token, tracking_token
from alerts.mail.verp import is_verp_address, parse_verp, verp_address

__all__ = [
    "ONE_CLICK",
    "AlertComposer",
    "ArticleLoader",
    "Brand",
    "ComposerParts",
    "DigestComposer",
    "DigestSpec",
    "DkimSigner",
    "EmailRenderer",
    "EncodedEmail",
    "Envelope",
    "EnvelopeBuilder",
    "KeywordAlertComposer",
    "Notice",
    "ReaderMarkers",
    "ReaderParts",
    "RenderCache",
    "RenderMarkers",
    "RenderedEmail",
    "brand_of",
    "build_message",
    "click_url",
    "compose_notice",
    "contrast_ratio",
    "cut_summary",
    "cut_title",
    "default_renderer",
    "digest_context",
    "encode_email",
    "html_to_text",
    "is_verp_address",
    "make_message_id",
    "open_pixel_url",
    "parse_verp",
    "read_tracking_token",
    "reader_links",
    "render_digest",
    "sender_address",
    "sender_domain",
    "strip_bidi_controls",
    "text_colour_on",
    "time_label",
    "time_marker",
    "tracking_token",
    "verp_address",
]
