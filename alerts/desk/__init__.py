"""The editors' desk as plain functions: what it shows of editions, issues and alerts, and
what an editor does there — curate an issue, preview it, mail themselves a test copy.

- `board.py`: each edition's coming issues with their progress, an issue's board of
  candidate articles and its curation, and the latest articles to send as a breaking alert.
- `preview.py`: an edition as a reader, or a mix of topics, would get it now, writing nothing.
- `keywords.py`: the keywords readers follow most, and today's stories that matched them.
- `proofs.py`: a previewed digest mailed to the editor, with the reader's links made dead.
- `readers.py`: the readers a page at a time, one reader's record, and what an editor may
  do to a reader (unsubscribe, erase, lift a suppression).
- `imports.py`: a CSV import from the desk, audited, with a choice to start tomorrow.
- `topics.py`: the topic catalogue: follower counts, renaming, public or hidden on the
  sign-up form, merging.

The web pages over these are in alerts.web (desk, desk_issues, desk_previews); results of
what went out are in alerts.results. `board.board` keeps its module's name, so it is not
re-exported here (it would hide the module).
"""

from alerts.desk.board import (
    ALERT_WINDOW,
    CURATION_ACTIONS,
    AlertSummary,
    BoardRow,
    ComingIssue,
    EditionRow,
    alerted_article_ids,
    coming_issue_dates,
    curate,
    draft_issue,
    edition_rows,
    find_edition,
    issue_or_draft,
    issue_progress,
    latest_articles,
    recent_alerts_with_progress,
    selectable_ids,
)
from alerts.desk.keywords import FollowedKeyword, most_followed_keywords
from alerts.desk.preview import Preview, preview_digest, preview_topic_mix
from alerts.desk.proofs import TEST_HEADER, TEST_PREFIX, send_test, without_reader_links

__all__ = [
    "ALERT_WINDOW",
    "CURATION_ACTIONS",
    "TEST_HEADER",
    "TEST_PREFIX",
    "AlertSummary",
    "BoardRow",
    "ComingIssue",
    "EditionRow",
    "FollowedKeyword",
    "Preview",
    "alerted_article_ids",
    "coming_issue_dates",
    "curate",
    "draft_issue",
    "edition_rows",
    "find_edition",
    "issue_or_draft",
    "issue_progress",
    "latest_articles",
    "most_followed_keywords",
    "preview_digest",
    "preview_topic_mix",
    "recent_alerts_with_progress",
    "selectable_ids",
    "send_test",
    "without_reader_links",
]
