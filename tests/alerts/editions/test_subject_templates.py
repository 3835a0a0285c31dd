"""Subject templates: what an editor may write, and what a send does with a bad one."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from alerts.editions.issues import issue_for, set_texts
from alerts.editions.schedules import EditionInput, create_edition, get_edition
from alerts.editions.subjects import check_subject_template, preview_subject, subject_line
from alerts.errors import EditionError, IssueError
from alerts.models import DEFAULT_SUBJECT
from tests.factories import make_article, utc


@pytest.mark.parametrize(
    "template",
    [
        "{{ lead",
        "{{ nope }}",
        "{{ ''.__class__.__mro__ }}",
        "{% for x in range(10000000) %}{% endfor %}",
        "{{ 9**9**9 }}",
        "{{ lead * 100000000 }}",
        "{{ count / 0 }}",
        " ",
        "x" * 301,
    ],
)
def test_unusable_subjects_are_refused_with_the_field_named(template: str) -> None:
    with pytest.raises(EditionError) as refused:
        check_subject_template(template)
    assert refused.value.field == "subject_template"


def test_a_subject_that_fails_only_on_real_values_falls_back_to_the_default() -> None:
    template = "{{ lead }}: 1 in {{ count // (count - 5) }}"
    check_subject_template(template)  # fine with the sample's three stories
    values = {"edition": "Daily", "lead": "Floods", "local_date": date(2026, 12, 7), "site": "S"}
    assert subject_line(template, count=7, **values) == "Floods: 1 in 3"
    fallback = subject_line(DEFAULT_SUBJECT, count=5, **values)
    assert subject_line(template, count=5, **values) == fallback  # not a crashed batch


# What the penetration test of issue #16 saved as subjects, and what else grows a value
# or a render without end: each is refused when saved, whatever it would have cost.
@pytest.mark.parametrize(
    "template",
    [
        "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
        "{% for a in range(60) %}{% for b in range(60) %}{% endfor %}{% endfor %}",
        "{{ lead|center(300000000) }}",
        "{{ lead.center(300000000) }}",
        "{{ lead*300*300*300 }}",
        "{% for a in range(lead|length) %}{% for b in range(lead|length) %}"
        "{% for c in range(lead|length) %}{% for d in range(lead|length) %}"
        "{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s=lead) %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s=lead) %}{% for i in range(40) %}"
        "{% set ns.s %}{{ ns.s }}{{ ns.s }}{% endset %}{% endfor %}",
        "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
        "{{ d(lead, 40) }}",
        "{% macro f() %}{{ f() }}{{ f() }}{% endmacro %}{{ f() }}",
        "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
        "{{ lipsum(100000) }}",
        "{{ '%999999999s' % lead }}",
        "{{ '%999999999s'|format(lead) }}",
        "{{ '{:>999999999}'.format(lead) }}",
        "{{ lead|replace('', lead)|replace('', lead)|replace('', lead) }}",
        "{{ ([[lead|list]] * 2000)|sum(start=[]) }}",
        "{{ 99999999999 * 99999999999 * 99999999999 }}",
        "{% for i in range(99) %}{{ lead * 100 }}{% endfor %}",
    ],
)
def test_templates_without_bounds_are_refused_when_saved(template: str) -> None:
    with pytest.raises(EditionError) as refused:
        check_subject_template(template)
    assert refused.value.field == "subject_template"


NOW = utc(2026, 3, 10, 8, 0)
# Two loops over the headline: 110 rounds with the sample's, 3,600 with a real one of 60.
SQUARE = (
    "{% for a in range(lead|length) %}{% for b in range(lead|length) %}{% endfor %}"
    "{% endfor %}{{ lead }}"
)


def test_a_template_that_grows_with_real_headlines_is_refused_once_one_was_published(
    session: Session,
) -> None:
    edition = EditionInput(name="Square", subject_template=SQUARE)
    create_edition(session, slug="square", data=edition, now=NOW)  # only the sample to go by
    make_article(session, "x" * 60, published_at=NOW - timedelta(days=2))
    check_subject_template(SQUARE)  # the sample alone still passes
    with pytest.raises(EditionError, match="at most 1,000 steps") as refused:
        create_edition(session, slug="square-again", data=edition, now=NOW)
    assert refused.value.field == "subject_template"
    # A week later the long headline no longer counts.
    check_subject_template(SQUARE, session=session, now=NOW + timedelta(days=8))


def test_an_issue_subject_is_held_to_the_same_real_headlines(session: Session) -> None:
    issue = issue_for(session, get_edition(session, "daily"), date(2026, 3, 10), now=NOW)
    set_texts(issue, subject=SQUARE, intro=None, now=NOW)
    make_article(session, "x" * 60, published_at=NOW - timedelta(hours=3))
    with pytest.raises(IssueError, match="at most 1,000 steps"):
        set_texts(issue, subject=SQUARE + " ", intro=None, now=NOW)


def test_a_template_over_its_bounds_on_a_real_issue_sends_the_default_subject(
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = {"edition": "Square", "count": 3, "local_date": date(2026, 3, 10), "site": "S"}
    assert subject_line(SQUARE, lead="Short news", **values) == "Short news"
    headline = "A long headline about the floods in the valley, with a map"
    with caplog.at_level(logging.WARNING, logger="alerts.editions.subjects"):
        written = subject_line(SQUARE, lead=headline, **values)
    assert written == subject_line(DEFAULT_SUBJECT, lead=headline, **values)
    assert written == f"{headline} — and 2 more stories"
    assert "at most 1,000 steps" in caplog.text and "'Square'" in caplog.text


@pytest.mark.parametrize(
    "template",
    [
        DEFAULT_SUBJECT,
        "{{ edition }} for {{ date }}: {{ lead }}",
        "{{ site|upper }} · {{ lead|truncate(12, True, '…') }}",
        "{{ '%s: %d stories'|format(edition, count) }} {{ '%05.1f' % 2.5 }}",
        "{{ '{} ({:0>3})'.format(lead, count) }}",
        "{% for word in lead.split()[:2] %}{{ word|capitalize }}-{% endfor %}",
        "{{ '★' * count }} {{ lead ~ '!' }} {{ [lead, site]|join(' / ') }} {{ count + more }}",
        "{% set ns = namespace(n=0) %}{% for i in range(count) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }} {{ [1, 2, count]|sum }}",
        "{% macro tag() %}[{{ site }}]{% endmacro %}{% for i in range(2) %}"
        "{% set a = lead * 50 %}{% set b = lead * 50 %}{{ tag() }}{% endfor %} {{ lead }}",
    ],
)
def test_ordinary_templates_write_what_the_unbounded_sandbox_writes(template: str) -> None:
    check_subject_template(template)
    values = {"edition": "Daily", "lead": "Floods in the valley", "site": "S"}
    written = subject_line(template, count=3, local_date=date(2026, 3, 10), **values)
    unbounded = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    sample = {**values, "count": 3, "more": 2, "date": "Tuesday 10 March 2026"}
    assert written == " ".join(unbounded.from_string(template).render(sample).split())
    if template != DEFAULT_SUBJECT:  # and not the default, written in its place
        default = subject_line(DEFAULT_SUBJECT, count=3, local_date=date(2026, 3, 10), **values)
        assert written != default


def test_plain_placeholders_write_what_their_jinja_twins_write() -> None:
    day = date(2026, 12, 7)
    values = {"edition": "Daily", "lead": "Harbour bridge reopens", "count": 4,
              "local_date": day, "site": "The Example Gazette"}  # fmt: skip
    plain = subject_line(
        "{lead} — and {more} more ({count}, {date}, {edition}, { site })", **values
    )
    jinja = subject_line(
        "{{ lead }} — and {{ more }} more ({{ count }}, {{ date }}, {{ edition }}, {{ site }})",
        **values,
    )
    assert (
        plain
        == jinja
        == (
            "Harbour bridge reopens — and 3 more (4, Monday 7 December 2026, Daily,"
            " The Example Gazette)"
        )
    )
    # In a Jinja template single braces are text, as Jinja has always had them.
    assert subject_line("{{ lead|upper }} {count}", **values) == "HARBOUR BRIDGE REOPENS {count}"


@pytest.mark.parametrize("template", ["{leed} today", "{lead} and {}", "{lead.__class__}"])
def test_an_unknown_placeholder_is_refused_when_saved_naming_the_known(template: str) -> None:
    with pytest.raises(
        EditionError, match=re.escape("is not a placeholder: use {lead}, {count}")
    ) as caught:
        check_subject_template(template)
    assert caught.value.field == "subject_template"


def test_the_desks_preview_writes_a_sample_issue_or_says_why_not() -> None:
    assert preview_subject("{edition}: {lead}", edition="Climate watch") == (
        "Climate watch: A headline"
    )
    led = preview_subject("{lead} +{more}", edition="Daily", lead="Kestrel Valley floods")
    assert led == "Kestrel Valley floods +2"
    with pytest.raises(EditionError, match="is not a placeholder"):
        preview_subject("{leed}", edition="Daily")
    with pytest.raises(EditionError, match="cannot be used"):
        preview_subject("{{ lead.__class__ }}", edition="Daily")
