"""The web app, a thin adapter: each view parses the request, calls one function, shapes
the answer. `alerts.web.app.create_app(settings)` builds it; nothing outside this package
imports it.

- `app.py`: the application factory: blueprints, health checks, errors, security headers.
- `context.py`: what every view needs, built once per app; `pages.py`: rendering pages and
  JSON answers; `errors.py`: the one map from our errors to HTTP; `forms.py`,
  `json_bodies.py`, `ids.py`: reading what a visitor sends.
- `signup.py`, `links.py`: readers signing up, confirming, changing preferences, leaving.
- `archive.py`: the public archive of sent issues; `tracking.py`: tracked links and the
  open pixel.
- `auth.py`: staff sign-in and roles; `security.py`: form timestamps and CSRF tokens;
  `ratelimit.py`: rate limits kept in Redis.
- `desk.py`, `desk_issues.py`, `desk_previews.py`: the editors' desk; `results.py`: its
  results pages; `desk_readers.py`, `desk_import.py`, `desk_topics.py`: its readers (the
  list, a reader's page, the CSV export and import) and topics.
- `ops.py`: the operators' console; `ops_tokens.py`: its API tokens page (admins);
  `ops_staff.py`: its staff page (admins), a user's own password and password resets.
- `api.py`, `api_editions.py`, `api_subscribers.py`, `openapi.py`: the publisher API.
- `webhooks.py`: bounce and complaint webhooks of mail providers.

Nothing is imported here: importing a view module would build half the app on any import
of alerts.web.
"""
