"""Subject lines: an editor's Jinja2 template, run in a sandbox that bounds what it costs.

Editors write an edition's (or an issue's) subject as a template over six values:
`edition`, `lead`, `count`, `more`, `date` and `site` — either with plain placeholders
(`{lead} — and {more} more`), which is all most subjects need, or as Jinja2 for those who
want expressions (`{{ lead|upper }}`). A subject with no `{{`, `{%` or `{#` is the plain
kind: each `{name}` becomes `{{ name }}`, and a name that is not one of the six is refused
when saved, so a typo (`{leed}`) never reaches a reader's inbox. The sandbox keeps a template away
from everything but those values; the bounds here keep it from tying up a worker, since a
subject is one short line and `{% for a in range(10000) %}{% for b in range(10000) %}`,
`{{ lead|center(300000000) }}` or `{{ lead * 300 * 300 * 300 }}` would otherwise run for
seconds or hold hundreds of megabytes. A render gets:

- `range` of at most MAX_RANGE numbers, and no number above MAX_VALUE_SIZE given to a
  function or filter (a width, a count);
- MAX_STEPS steps, each loop round and each call one step, nested loops and macros
  counted together, and MAX_SECONDS in all;
- values (texts, lists, what `~`, `*`, `+`, `%`, a call or a filter makes, what is kept
  in a `namespace`) of at most MAX_VALUE_SIZE characters or items, nested ones counted;
- MAX_OUTPUT characters written (the mail standards' line limit): beyond, it stops.

A headline is given to the template cut at MAX_VALUE_SIZE characters (a subject keeps its
first MAX_SUBJECT_LENGTH anyway), so a long one does not trip the bounds by itself.

A template is checked when saved with a sample headline and with the longest headline
published in the past week, as real headlines make loops over `lead` longer; what
exceeds a bound is refused there, naming the field. One that still exceeds it on a real
issue goes out with the default subject and a warning in the log, never a stuck send.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from itertools import chain
from typing import Any

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import do_format
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.errors import EditionError
from alerts.models import DEFAULT_SUBJECT, Article
from alerts.translations import format_day, format_number, translations_for
from subscribers.database import utcnow

log = logging.getLogger(__name__)

MAX_TEMPLATE_LENGTH = 300
MAX_RANGE = 100
MAX_STEPS = 1_000
MAX_SECONDS = 0.25
MAX_VALUE_SIZE = 2_000
MAX_OUTPUT = 998
MAX_SUBJECT_LENGTH = 300
_MAX_PRODUCT_BITS = 64
_RECENT = timedelta(days=7)

# The width and precision of a printf-style conversion ("%-20.5s"), or "*" for one taken
# from the arguments; and the replacement fields of str.format ("{0:>20}").
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")
_DIGITS = re.compile(r"\d+")

PLACEHOLDERS = ("lead", "count", "more", "date", "edition", "site")
_JINJA_MARK = re.compile(r"\{[{%#]")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_SAMPLE: dict[str, Any] = {
    "edition": "Daily briefing",
    "lead": "A headline",
    "count": 3,
    "more": 2,
    "date": "Monday 7 December 2026",
    "site": "The Example Gazette",
}


def _size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """The characters and items in `value`, those of nested lists and dicts included.
    Counting stops once past `limit`, so a check costs at most that many steps."""
    if isinstance(value, str | bytes):
        return len(value)
    items: Iterable[Any]
    if isinstance(value, dict):
        items = chain.from_iterable(value.items())
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return 1
    total = 0
    for item in items:
        total += 1 + _size(item, limit - total)
        if total > limit:
            break
    return total


def _checked(value: Any) -> Any:
    if _size(value) > MAX_VALUE_SIZE:
        raise SecurityError(f"a subject works on at most {MAX_VALUE_SIZE:,} characters at once")
    return value


def _check_argument(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE_SIZE:
        raise SecurityError(f"a subject has no use for a number above {MAX_VALUE_SIZE:,}")
    _checked(value)


def _check_repetition(left: Any, right: Any) -> None:
    """Refuse `left * right` before it is made when it would be too large."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_PRODUCT_BITS:
            raise SecurityError("that number is too large for a subject")
        return
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(times, int) and times > 0 and _size(sequence) * times > MAX_VALUE_SIZE:
        raise SecurityError("that repeats text too often for a subject")


def _check_widths(widths: Iterable[str]) -> None:
    for width in widths:
        if width == "*" or (width and (len(width) > 6 or int(width) > MAX_VALUE_SIZE)):
            raise SecurityError(f"a subject pads text to at most {MAX_VALUE_SIZE:,} characters")


def _check_percent_format(text: str) -> None:
    _check_widths(chain.from_iterable(_PERCENT_SPEC.findall(text)))


def _format_filter(value: str, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(str(value))
    return do_format(value, *args, **kwargs)


def _check_sum(arguments: tuple[Any, ...], options: dict[str, Any]) -> None:
    # Adding up lists copies them over and over: only numbers are added in a subject.
    start = options.get("start", arguments[2] if len(arguments) > 2 else 0)
    if not isinstance(start, int | float):
        raise SecurityError("sum adds up numbers in a subject")


_FILTER_CHECKS = {"sum": _check_sum}
# What Jinja passes along with a call from inside a loop or block: the variables set
# there, each of them bounded already, together maybe not.
_JINJA_VARIABLES = frozenset({"_loop_vars", "_block_vars"})


def _bounded_filter(
    filter_function: Callable[..., Any],
    check: Callable[[tuple[Any, ...], dict[str, Any]], None] | None = None,
) -> Callable[..., Any]:
    """`filter_function` with its value and arguments checked before, its result after.
    The value piped in may be any number (`1500|filesizeformat`); its arguments may not."""
    # wraps() copies jinja_pass_arg too: the wrapper is given the same first argument.
    passes_first = hasattr(filter_function, "jinja_pass_arg")

    @functools.wraps(filter_function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        given = args[1:] if passes_first else args
        if given:
            _checked(given[0])
        for argument in chain(given[1:], kwargs.values()):
            _check_argument(argument)
        if check is not None:
            check(given, kwargs)
        return _checked(filter_function(*args, **kwargs))

    return bounded


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"a subject loops over at most {MAX_RANGE} numbers")
    return numbers


class _BoundedNamespace(Namespace):
    """`namespace()`, the one place a value outlives a loop round: it keeps bounded values."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _checked(value))


class _SubjectContext(Context):
    """A render's context, carrying what is left of its steps and time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps_left = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS

    def take_step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise SecurityError(
                f"a subject takes at most {MAX_STEPS:,} steps (loop rounds and calls)"
            )
        if time.monotonic() > self.deadline:
            raise SecurityError("the subject takes too long to write")


class _SubjectCodeGenerator(CodeGenerator):
    """Jinja's compiler, with the step counting and size checks that Python code cannot
    see from outside: the rounds of a loop, and what `~` joins."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            self.fail("a subject has no use for recursive loops", node.lineno)
        # environment.counted(context, iterable): each item it gives is a step
        iterable = nodes.Call(
            nodes.EnvironmentAttribute("counted"),
            [nodes.ContextReference(), node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        counted = nodes.For(
            node.target,
            iterable,
            node.body,
            node.else_,
            node.test,
            node.recursive,
            lineno=node.lineno,
        )
        super().visit_For(counted, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")


class _SubjectEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox (lists and dicts cannot be changed, so only a namespace accumulates),
    with no powers, no `lipsum`, and the bounds of this module's docstring."""

    code_generator_class = _SubjectCodeGenerator
    context_class = _SubjectContext
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals["range"] = _bounded_range
        self.globals["namespace"] = _BoundedNamespace
        del self.globals["lipsum"]
        originals = {**self.filters, "format": _format_filter}
        self.filters = {
            name: _bounded_filter(each, _FILTER_CHECKS.get(name))
            for name, each in originals.items()
        }

    @staticmethod
    def checked(value: Any) -> Any:
        return _checked(value)

    @staticmethod
    def counted(context: _SubjectContext, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            context.take_step()
            yield item

    def call(self, context: Context, callee: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(context, _SubjectContext):
            context.take_step()
        _checked(getattr(callee, "__self__", None))  # the text of `lead.center(...)`
        given = (value for name, value in kwargs.items() if name not in _JINJA_VARIABLES)
        for argument in chain(args, given):
            _check_argument(argument)
        return _checked(super().call(context, callee, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers are not allowed in a subject")
        if operator == "*":
            _check_repetition(left, right)
        if operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return _checked(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:  # "{:>99999999}".format(lead): refused before it pads
            fields = _FORMAT_FIELD.findall(value.__self__)
            _check_widths(chain.from_iterable(_DIGITS.findall(field) for field in fields))
        return wrapped


_subjects = _SubjectEnvironment()


def as_jinja(template: str) -> str:
    """The Jinja2 source of a subject: itself when it is Jinja already, else its plain
    placeholders (`{lead}`) written as Jinja (`{{ lead }}`).

    Raises EditionError (field `subject_template`) for a placeholder that is not one of
    PLACEHOLDERS."""
    if _JINJA_MARK.search(template):
        return template

    def jinja(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{known}}}" for known in PLACEHOLDERS)
            raise EditionError(
                "subject_template", f"{{{match.group(1)}}} is not a placeholder: use {known}"
            )
        return f"{{{{ {name} }}}}"

    return _PLACEHOLDER.sub(jinja, template)


@functools.lru_cache(maxsize=256)
def _subject_template(source: str) -> Template:
    """Compiled once per process: every render of a digest writes its subject, and
    compiling (~575 µs here) costs some 80 renders (~7 µs)."""
    return _subjects.from_string(as_jinja(source))


def _render(template: Template, values: dict[str, Any]) -> str:
    """What `template` writes, stopping once past MAX_OUTPUT characters."""
    written: list[str] = []
    length = 0
    for chunk in template.generate(values):
        written.append(chunk)
        length += len(chunk)
        if length > MAX_OUTPUT:
            break
    return "".join(written)


def _longest_recent_headline(session: Session, now: datetime) -> str | None:
    return session.scalar(
        select(Article.title)
        .where(Article.published_at >= now - _RECENT)
        .order_by(func.length(Article.title).desc())
        .limit(1)
    )


def check_subject_template(
    template: str, *, session: Session | None = None, now: datetime | None = None
) -> None:
    """Raise EditionError unless `template` renders with the documented variables within
    the bounds: with the sample values and, given a session, with the longest headline
    published in the week before `now` (default: the present)."""
    if not template.strip() or len(template) > MAX_TEMPLATE_LENGTH:
        raise EditionError(
            "subject_template", f"give a subject of 1 to {MAX_TEMPLATE_LENGTH} characters"
        )
    samples = [_SAMPLE]
    if session is not None:
        longest = _longest_recent_headline(session, now or utcnow())
        if longest and len(longest) > len(_SAMPLE["lead"]):
            samples.append({**_SAMPLE, "lead": longest[:MAX_VALUE_SIZE]})
    source = as_jinja(template)
    try:
        compiled = _subjects.from_string(source)
        written = [_render(compiled, values) for values in samples]
    except Exception as error:  # syntax, unknown names, unsafe access, a bound, a type error
        raise EditionError("subject_template", f"cannot be used: {error}") from None
    if len(written[0]) > MAX_OUTPUT:
        raise EditionError(
            "subject_template", f"cannot be used: it writes over {MAX_OUTPUT} characters"
        )


def preview_subject(template: str, *, edition: str, lead: str | None = None) -> str:
    """What `template` writes for a sample issue of `edition` (led by `lead` when given, a
    sample headline otherwise): the desk's live preview.

    Raises EditionError when the template cannot be used, as check_subject_template does."""
    check_subject_template(template)
    values = {**_SAMPLE, "edition": edition or _SAMPLE["edition"]}
    if lead:
        values["lead"] = lead[:MAX_VALUE_SIZE]
    rendered = _render(_subject_template(template), values)
    return " ".join(rendered.split())[:MAX_SUBJECT_LENGTH]


@functools.lru_cache(maxsize=256)
def _warn_once(edition: str, template: str, reason: str) -> None:
    """Once per process for each edition, template and reason: a subject is written for
    every digest of an issue, and one line says what an operator needs to know."""
    log.warning(
        "The subject template of %r cannot be used (%s); the default subject goes out",
        edition,
        reason,
    )


def subject_line(
    template: str,
    *,
    edition: str,
    lead: str,
    count: int,
    local_date: date,
    site: str,
    language: str = "en",
) -> str:
    """The subject an issue goes out with (variables: edition, lead, count, more, date, site).
    A template that fails or exceeds a bound on these values gives the default subject.

    The default subject is written in the reader's `language`; a subject an editor wrote
    goes out as they wrote it, its date in the reader's language."""
    values = {
        "edition": edition,
        "lead": lead[:MAX_VALUE_SIZE],
        "count": count,
        "more": max(count - 1, 0),
        "date": format_day(local_date, language),
        "site": site,
    }
    if template == DEFAULT_SUBJECT:
        return _default_subject(values, language)
    try:
        rendered = _render(_subject_template(template), values)
    except Exception as error:  # checked when saved; real values can still trip it
        _warn_once(edition, template, str(error))
        return _default_subject(values, language)
    return " ".join(rendered.split())[:MAX_SUBJECT_LENGTH]


def _default_subject(values: dict[str, Any], language: str) -> str:
    """DEFAULT_SUBJECT in the reader's language: the lead story, and how many more."""
    more = int(values["more"])
    lead = str(values["lead"])
    if more:
        text = translations_for(language).ngettext(
            "%(lead)s — and %(num)s more story", "%(lead)s — and %(num)s more stories", more
        ) % {"lead": lead, "num": format_number(more, language)}
    else:
        text = lead
    return " ".join(text.split())[:MAX_SUBJECT_LENGTH]
