"""Editions and their issues: what editors schedule, and what they decide for one day's send.

- `schedules.py`: editions, the named, scheduled digests (`daily` and `weekly` always
  exist, editors add topic editions): their settings and the date of their issue.
- `subjects.py`: the subject line each one writes, an editor's template run in a sandbox
  that bounds its loops, sizes and time; checked when saved, the default when it fails.
- `choices.py`: the editions a reader is eligible for, each on unless they turned it off.
- `issues.py`: an issue, one edition on one local date: its curation (pinned, dropped,
  locked articles), pausing, resuming and cancelling its send, and what it carried.

An issue's send itself is the ledger's (alerts.ledger); what each reader's copy holds is
the digests' (alerts.digests). Each module's docstring says why it works the way it does.
"""

from alerts.editions.choices import (
    EditionChoice,
    edition_choices,
    edition_name,
    is_eligible,
    known_slugs,
)
from alerts.editions.issues import (
    NO_CURATION,
    Curation,
    cancel,
    candidates,
    curation_of,
    drop,
    find_issue,
    get_issue,
    issue_articles,
    issue_for,
    lock,
    move,
    pause,
    pin,
    record_issue_articles,
    restore,
    resume,
    set_texts,
    unlock,
    unpin,
)
from alerts.editions.schedules import (
    DEFAULT_EDITIONS,
    MAX_ARTICLES_LIMIT,
    MAX_SUMMARY_CHARS,
    EditionInput,
    create_edition,
    ensure_default_editions,
    get_edition,
    issue_date,
    list_editions,
    update_edition,
    weekly_weekdays,
)
from alerts.editions.subjects import (
    PLACEHOLDERS,
    check_subject_template,
    preview_subject,
    subject_line,
)

__all__ = [
    "DEFAULT_EDITIONS",
    "MAX_ARTICLES_LIMIT",
    "MAX_SUMMARY_CHARS",
    "NO_CURATION",
    "PLACEHOLDERS",
    "Curation",
    "EditionChoice",
    "EditionInput",
    "cancel",
    "candidates",
    "check_subject_template",
    "create_edition",
    "curation_of",
    "drop",
    "edition_choices",
    "edition_name",
    "ensure_default_editions",
    "find_issue",
    "get_edition",
    "get_issue",
    "is_eligible",
    "issue_articles",
    "issue_date",
    "issue_for",
    "known_slugs",
    "list_editions",
    "lock",
    "move",
    "pause",
    "pin",
    "preview_subject",
    "record_issue_articles",
    "restore",
    "resume",
    "set_texts",
    "subject_line",
    "unlock",
    "unpin",
    "update_edition",
    "weekly_weekdays",
]
