"""Pages reached from links in emails: confirm, preferences, unsubscribe.

GET never changes anything (mail scanners open every link); each page has a button whose
POST does. The one exception is RFC 8058 one-click unsubscribe, a POST without cookies or
CSRF token that mailbox providers send on the reader's behalf.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from flask import Blueprint, Response, g, jsonify, make_response, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from alerts.digests.welcome import first_digest_at
from alerts.editions.choices import edition_choices, edition_name, known_slugs
from alerts.mail.notices import Notice, reader_links
from alerts.mail.rendering import ReaderParts
from alerts.translations import language_names
from alerts.web.context import WORDING_VERSION, db, web_context
from alerts.web.forms import form_values, parse_preferences
from alerts.web.pages import (
    N_,
    field_error,
    first_digest_words,
    page,
    page_language,
    time_zones,
    topic_choices,
    translate,
    weekly_choice,
)
from alerts.web.security import FormRejected, header_text
from alerts.web.signup import hand_over, notice_within_limit
from subscribers.database import utcnow
from subscribers.editions import choose_editions, editions_off, leave_edition
from subscribers.errors import InvalidPreference, InvalidToken
from subscribers.languages import shipped_language
from subscribers.lifecycle import (
    confirm,
    erase,
    export_data,
    fewer_emails,
    pause,
    unsubscribe,
    update_preferences,
)
from subscribers.models import Frequency, Subscriber, SubscriberStatus
from subscribers.services import Origin, reader_of_link
from subscribers.tokens import Purpose, TokenSigner

blueprint = Blueprint("links", __name__)
ONE_CLICK = "One-Click"
PAUSE_CHOICES = (0, 1, 2, 4, 8, 12)
RESENT = N_("If this subscription still awaits confirmation, a new link is on its way.")
ERASE_UNTICKED = N_("Tick the box to confirm that your data should be deleted.")

View = tuple[str, int] | tuple[Response, int] | Response | WerkzeugResponse


class _Gone(Exception):
    """The link is valid but its reader no longer exists (erased)."""


def _signer() -> TokenSigner:
    return TokenSigner([web_context().runtime.settings.secret_key])


def _reader(purpose: Purpose, token: str, *, scope: str | None = None) -> Subscriber:
    """The reader of a link; raises InvalidToken for one that is not (or no longer) theirs,
    or whose token was not signed for `scope` (an edition's unsubscribe link)."""
    subscriber = reader_of_link(db(), _signer(), purpose, token, scope=scope)
    if subscriber is None:
        raise _Gone()
    # The pages of a reader's link are in the reader's language (pages.page_language).
    g.reader_language = subscriber.language or web_context().runtime.settings.default_language
    return subscriber


def _origin(source: str) -> Origin:
    return Origin(
        source=source,
        ip_address=(request.remote_addr or "")[:45] or None,
        user_agent=header_text(request.user_agent.string, 500),
        wording_version=WORDING_VERSION,
    )


def _check_csrf(action: str, token: str) -> None:
    web_context().guard.check_csrf(request.form.get("csrf_token", ""), action, token)


def _csrf(action: str, token: str) -> str:
    return web_context().guard.csrf_token(action, token)


def _invalid(error: Exception) -> View:
    if isinstance(error, _Gone):
        return page(
            "link_invalid.html", 404, message=N_("There is no subscription behind this link.")
        )
    return page("link_invalid.html", 404, message=str(error).capitalize() + ".")


# --- confirm ---------------------------------------------------------------------------


EXPIRED = "this link has expired"


def _expired(token: str) -> View:
    return page("link_expired.html", 410, resend_csrf=_csrf("resend", token), token=token)


def _no_longer_valid() -> View:
    """A confirmation link of a reader who has since left (unsubscribed, bounced)."""
    return page("link_invalid.html", 404, message=N_("This confirmation link is no longer valid."))


@blueprint.get("/confirm/<token>")
def confirm_page(token: str) -> View:
    try:
        subscriber = _reader(Purpose.CONFIRM, token)
    except InvalidToken as error:
        return _expired(token) if str(error) == EXPIRED else _invalid(error)
    except _Gone as error:
        return _invalid(error)
    if subscriber.status is SubscriberStatus.ACTIVE:
        return _confirmed_page(subscriber)
    if subscriber.status is not SubscriberStatus.PENDING:
        return _no_longer_valid()
    return page("confirm.html", email=subscriber.email, csrf=_csrf("confirm", token))


@blueprint.post("/confirm/<token>")
def confirm_submit(token: str) -> View:
    try:
        subscriber = _reader(Purpose.CONFIRM, token)
        _check_csrf("confirm", token)
    except InvalidToken as error:
        # A page opened before the link expired and submitted after: offer a new email.
        return _expired(token) if str(error) == EXPIRED else _invalid(error)
    except _Gone as error:
        return _invalid(error)
    except FormRejected as error:
        return page("error.html", 400, message=str(error).capitalize() + ".")
    if subscriber.status not in (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE):
        return _no_longer_valid()
    session = db()
    confirm(session, subscriber, origin=_origin("confirm-link"), now=utcnow())
    session.commit()
    return _confirmed_page(subscriber)


def _confirmed_page(subscriber: Subscriber) -> View:
    """Says when the first digest really goes out (see alerts.digests.welcome)."""
    now = utcnow()
    first = first_digest_at(db(), subscriber, now=now)
    when = None
    if first is not None and first > now:
        when = first_digest_words(first, now=now, timezone=subscriber.timezone)
    return page(
        "confirmed.html",
        preferences_url=_links(subscriber).preferences_url,
        first=first,
        when=when,
    )


@blueprint.post("/confirm/<token>/resend")
def confirm_resend(token: str) -> View:
    """An expired confirmation link may ask for a fresh email (signature still checked)."""
    try:
        _check_csrf("resend", token)
        subscriber = reader_of_link(db(), _signer(), Purpose.CONFIRM, token, allow_expired=True)
    except (InvalidToken, FormRejected):
        return page("link_invalid.html", 404, message=N_("This link is not valid."))
    if subscriber is not None and subscriber.status is SubscriberStatus.PENDING:
        # The same daily allowance per address as confirmation emails from the sign-up form.
        session = db()
        notice_id = notice_within_limit(session, Notice.CONFIRM, subscriber.id, subscriber.email)
        session.commit()
        hand_over(notice_id)
    return page("check_inbox.html", message=RESENT)


def _links(subscriber: Subscriber) -> ReaderParts:
    settings = web_context().runtime.settings
    return reader_links(settings, subscriber.id, subscriber.email, link_key=subscriber.link_key)


# --- preferences -----------------------------------------------------------------------


def _current_choices(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "topics": {topic.slug for topic in subscriber.topics},
        "frequency": subscriber.frequency.value,
        "breaking_alerts": subscriber.breaking_alerts,
        "keyword_alerts": subscriber.keyword_alerts,
        "hour": subscriber.send_hour,
        "timezone": subscriber.timezone,
        "language": page_language(),
        "editions": {choice.slug for choice in edition_choices(db(), subscriber, now=utcnow())
                     if choice.on},
    }  # fmt: skip


def _submitted_choices(subscriber: Subscriber) -> dict[str, Any]:
    """What the reader chose in the form they sent, to show it again beside an error
    rather than what is stored: one mistake must not undo their other changes. A zone we
    do not know is replaced by the nearest one we do, else by their stored one."""
    form = request.form
    hour = form.get("hour", "")
    zone = form.get("timezone", "").strip()
    if zone not in time_zones():
        nearest = get_close_matches(zone[:100], time_zones(), n=1)
        zone = nearest[0] if nearest else subscriber.timezone
    return {
        "topics": set(form.getlist("topics")),
        "frequency": form.get("frequency", ""),
        "breaking_alerts": bool(form.get("breaking_alerts")),
        "keyword_alerts": bool(form.get("keyword_alerts")),
        "hour": int(hour) if hour.isascii() and hour.isdigit() else None,
        "timezone": zone,
        "language": shipped_language(form.get("language")) or page_language(),
        "editions": set(form.getlist("editions")),
    }


def _zone_error() -> str:
    typed = (request.form.get("timezone") or "").strip()[:100]
    return translate(
        "We do not know the time zone “%(zone)s”. Choose yours from the list and save "
        "again: your other choices are kept below.",
        zone=typed,
    )


def _preferences_page(
    token: str,
    subscriber: Subscriber,
    status: int = 200,
    chosen: dict[str, Any] | None = None,
    **extra: Any,
) -> View:
    chosen = chosen or _current_choices(subscriber)
    zones = time_zones()
    if chosen["timezone"] not in zones:  # a zone stored before the list had it (EST)
        zones = [chosen["timezone"], *zones]
    extra.setdefault("keywords_value", "; ".join(subscriber.keyword_texts))
    return page(
        "preferences.html",
        status,
        subscriber=subscriber,
        token=token,
        topics=topic_choices(subscriber.topics),
        editions=edition_choices(db(), subscriber, now=utcnow()),
        chosen=chosen,
        time_zones=zones,
        hours=range(24),
        weekly_choice=weekly_choice(),
        pause_choices=PAUSE_CHOICES,
        csrf=_csrf("preferences", token),
        erase_csrf=_csrf("erase", token),
        unsubscribe_url=_links(subscriber).unsubscribe_url,
        keyword_limit=web_context().runtime.settings.keywords_per_reader,
        keyword_alert_minutes=web_context().runtime.settings.keyword_alert_minutes,
        languages=language_names(),
        **extra,
    )


@blueprint.get("/preferences/<token>")
def preferences_page(token: str) -> View:
    try:
        subscriber = _reader(Purpose.PREFERENCES, token)
    except (InvalidToken, _Gone) as error:
        return _invalid(error)
    return _preferences_page(token, subscriber, saved=request.args.get("saved") == "1")


@blueprint.post("/preferences/<token>")
def preferences_submit(token: str) -> View:
    try:
        subscriber = _reader(Purpose.PREFERENCES, token)
        _check_csrf("preferences", token)
    except (InvalidToken, _Gone) as error:
        return _invalid(error)
    except FormRejected as error:
        return page("error.html", 400, message=str(error).capitalize() + ".")
    session = db()
    try:
        settings = web_context().runtime.settings
        preferences = parse_preferences(
            form_values(request.form), default_timezone=settings.default_timezone,
            keyword_limit=settings.keywords_per_reader,
        )  # fmt: skip
        choice = request.form.get("pause_weeks") or "0"
        weeks = None if choice == "keep" else int(choice)
        # The editions the page offered (those it did not are left as they are): the
        # ticked ones on, the others off.
        offered = known_slugs(session, request.form.getlist("editions_offered"))
        update_preferences(session, subscriber, preferences, origin=_origin("preferences"))
        choose_editions(
            session, subscriber, offered=offered, chosen=request.form.getlist("editions"),
            origin=_origin("preferences"),
        )  # fmt: skip
        if weeks is not None:  # "keep the pause" leaves it as it is
            pause(session, subscriber, weeks=weeks, origin=_origin("preferences"), now=utcnow())
    except (InvalidPreference, ValueError) as error:
        session.rollback()
        if isinstance(error, InvalidPreference):
            message = (
                _zone_error() if error.field == "timezone" else field_error(error.field, str(error))
            )
        else:
            message = N_("pause: choose a number of weeks")
        chosen = _submitted_choices(subscriber)
        typed = request.form.get("keywords", "")  # shown again, so nothing typed is lost
        return _preferences_page(
            token, subscriber, 422, chosen, error=message, keywords_value=typed
        )
    session.commit()
    return redirect(request.path + "?saved=1", code=303)


@blueprint.get("/preferences/<token>/data.json")
def preferences_export(token: str) -> View:
    try:
        subscriber = _reader(Purpose.PREFERENCES, token)
    except (InvalidToken, _Gone) as error:
        return _invalid(error)
    response = jsonify(export_data(db(), subscriber))
    response.headers["Content-Disposition"] = 'attachment; filename="my-news-alerts-data.json"'
    return response


@blueprint.post("/preferences/<token>/erase")
def preferences_erase(token: str) -> View:
    try:
        subscriber = _reader(Purpose.PREFERENCES, token)
        _check_csrf("erase", token)
    except (InvalidToken, _Gone) as error:
        return _invalid(error)
    except FormRejected as error:
        return page("error.html", 400, message=str(error).capitalize() + ".")
    if request.form.get("confirm_erase") != "yes":
        return _preferences_page(
            token,
            subscriber,
            422,
            error=ERASE_UNTICKED,
        )
    session = db()
    erase(
        session,
        subscriber,
        hash_key=web_context().runtime.settings.secret_key,
        origin=_origin("preferences"),
    )
    session.commit()
    return page("erased.html")


# --- unsubscribe -----------------------------------------------------------------------


UNSUBSCRIBE_ACTIONS = ("edition", "weekly", "pause", "all")
LEFT_EDITION = N_("You will no longer get this edition. Your other news alerts go on.")
NOW_WEEKLY = N_("From now on you get one email a week instead of one a day.")
PAUSED = N_("Your news alerts are paused.")
UNKNOWN_ACTION = N_("Choose one of the options on the page.")


def _edition_of_link() -> str | None:
    """The edition an unsubscribe link names (its token is signed for it), if any."""
    edition = request.args.get("edition")
    return edition[:100] if edition else None


def _unsubscribe_page(
    token: str, subscriber: Subscriber, edition: str | None, status: int = 200, **extra: Any
) -> View:
    """The page of an unsubscribe link: leave only the edition the link names, fewer
    emails (weekly instead of daily), a pause, or leaving everything."""
    session = db()
    left = edition is not None and edition in editions_off(session, subscriber.id)
    return page(
        "unsubscribe.html",
        status,
        email=subscriber.email,
        csrf=_csrf("unsubscribe", token),
        already=subscriber.status is SubscriberStatus.UNSUBSCRIBED,
        edition=edition,
        edition_name=(edition_name(session, edition) or edition) if edition else None,
        edition_left=left,
        daily=subscriber.frequency is Frequency.DAILY,
        pause_choices=[weeks for weeks in PAUSE_CHOICES if weeks],
        paused_until=subscriber.paused_until,
        preferences_url=_links(subscriber).preferences_url,
        **extra,
    )


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> View:
    """Shows the choices; changes nothing (link scanners open every link)."""
    edition = _edition_of_link()
    try:
        subscriber = _reader(Purpose.UNSUBSCRIBE, token, scope=edition)
    except (InvalidToken, _Gone) as error:
        return _invalid(error)
    return _unsubscribe_page(token, subscriber, edition)


@blueprint.post("/unsubscribe/<token>")
def unsubscribe_submit(token: str) -> View:
    """RFC 8058's one-click POST leaves the edition the link names (everything when it
    names none); the page's buttons do what they say."""
    one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
    edition = _edition_of_link()
    try:
        subscriber = _reader(Purpose.UNSUBSCRIBE, token, scope=edition)
        if not one_click:
            _check_csrf("unsubscribe", token)
    except (InvalidToken, _Gone) as error:
        if one_click and isinstance(error, _Gone):
            return make_response("Unsubscribed.\n", 200)  # nothing left to unsubscribe
        return _invalid(error)
    except FormRejected as error:
        return page("error.html", 400, message=str(error).capitalize() + ".")
    action = "edition" if one_click and edition else request.form.get("action", "all")
    if action not in UNSUBSCRIBE_ACTIONS or (action == "edition" and edition is None):
        return _unsubscribe_page(token, subscriber, edition, 422, error=UNKNOWN_ACTION)
    session = db()
    source = "one-click" if one_click else "unsubscribe-page"
    message = None
    if action == "edition" and edition is not None:
        leave_edition(session, subscriber, edition, origin=_origin(source))
        message = LEFT_EDITION
    elif action == "weekly":
        fewer_emails(session, subscriber, origin=_origin(source))
        message = NOW_WEEKLY
    elif action == "pause":
        weeks = request.form.get("pause_weeks", "")
        if not (weeks.isascii() and weeks.isdigit() and int(weeks) in PAUSE_CHOICES[1:]):
            return _unsubscribe_page(token, subscriber, edition, 422, error=UNKNOWN_ACTION)
        pause(session, subscriber, weeks=int(weeks), origin=_origin(source), now=utcnow())
        message = PAUSED
    else:
        unsubscribe(session, subscriber, origin=_origin(source), now=utcnow())
    session.commit()
    if one_click:
        # RFC 8058: answer the provider's POST directly, no redirect.
        return make_response("Unsubscribed.\n", 200, {"Content-Type": "text/plain"})
    if message is not None:
        # The same page, with what was done, still offering to leave everything.
        return _unsubscribe_page(token, subscriber, edition, message=message)
    return page(
        "unsubscribed.html",
        resubscribe_url=f"{web_context().runtime.settings.base_url}/subscribe?lang={page_language()}",
    )
