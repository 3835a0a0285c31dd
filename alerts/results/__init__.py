"""Results: what readers did with what we sent them — clicks, opens, and the counts of a send.

- `clicks.py`: following a tracked link and loading the open pixel: where to send the
  reader, what to record, and which fetches are mail scanners rather than readers.
- `tallies.py`: what an issue or an alert achieved and which stories readers chose, in a few
  grouped queries over the ledger.

Each module's docstring says why it works the way it does.
"""

from alerts.results.clicks import (
    SCANNER_AGENTS,
    SCANNER_GRACE,
    FollowedClick,
    follow_click,
    record_open,
    scanner_reason,
)
from alerts.results.tallies import (
    UNSUBSCRIBE_WINDOW,
    ArticleResult,
    IssueSummary,
    ReaderChoices,
    Results,
    Tally,
    alert_results,
    clicks_per_day,
    issue_results,
    issue_results_articles,
    issue_summaries,
    reader_choices,
    recent_alerts,
    sent_issues,
)

__all__ = [
    "SCANNER_AGENTS",
    "SCANNER_GRACE",
    "UNSUBSCRIBE_WINDOW",
    "ArticleResult",
    "FollowedClick",
    "IssueSummary",
    "ReaderChoices",
    "Results",
    "Tally",
    "alert_results",
    "clicks_per_day",
    "follow_click",
    "issue_results",
    "issue_results_articles",
    "issue_summaries",
    "reader_choices",
    "recent_alerts",
    "record_open",
    "scanner_reason",
    "sent_issues",
]
