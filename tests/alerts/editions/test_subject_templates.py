"""Subject templates: what an editor may write, and what a send does with a bad one."""

from __future__ import annotations

from datetime import date

import pytest

from alerts.editions.schedules import check_subject_template, subject_line
from alerts.errors import EditionError
from alerts.models import DEFAULT_SUBJECT


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
