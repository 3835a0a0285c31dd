"""Who gets what: the digest rules, a run planned into the ledger, breaking and keyword alerts.

- `selection.py`: the rules of a digest as pure functions: who is due on which local date,
  over which window, with which articles (an editor's curation of the issue first).
- `planning.py`: a digest run, set-based: one ledger row per due reader, written before
  anything is sent, a chunk at a time; and what a reader's copy would hold (previews).
- `breaking.py`: breaking-news alerts: one short email about one article to the readers
  who asked, through the same ledger, at most a few a day.
- `as_it_happens.py`: keyword alerts as it happens: an email soon after stories mention a
  reader's words, batched, at most one per KEYWORD_ALERT_MINUTES, within ALERTS_PER_DAY.
- `welcome.py`: when a reader who just confirmed gets their first digest.

What is planned here is queued, claimed and sent from the ledger (alerts.ledger,
alerts.delivery). Each module's docstring says why it works the way it does.
"""

from alerts.digests.as_it_happens import KeywordAlertPlan, plan_keyword_alerts
from alerts.digests.breaking import (
    AlertPlan,
    alert_audience,
    alert_key,
    create_alert,
    plan_alert,
    set_alert_status,
)
from alerts.digests.planning import (
    PlannedChunk,
    PlanResult,
    digest_window,
    issue_audience,
    plan_digests,
    plan_in_chunks,
    selection_for,
    selection_for_topics,
)
from alerts.digests.selection import (
    FIRST_WINDOW,
    MAX_ARTICLES,
    CandidateArticle,
    curated_selection,
    due_date,
    first_due,
    local_today,
    next_due,
    select_articles,
    window_start,
)
from alerts.digests.welcome import first_digest_at

__all__ = [
    "FIRST_WINDOW",
    "MAX_ARTICLES",
    "AlertPlan",
    "CandidateArticle",
    "KeywordAlertPlan",
    "PlanResult",
    "PlannedChunk",
    "alert_audience",
    "alert_key",
    "create_alert",
    "curated_selection",
    "digest_window",
    "due_date",
    "first_digest_at",
    "first_due",
    "issue_audience",
    "local_today",
    "next_due",
    "plan_alert",
    "plan_digests",
    "plan_in_chunks",
    "plan_keyword_alerts",
    "select_articles",
    "selection_for",
    "selection_for_topics",
    "set_alert_status",
    "window_start",
]
