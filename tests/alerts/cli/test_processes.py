"""`newsalerts web` as an operator starts it: where it may listen."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import main


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "news.example.com"])
def test_development_mode_refuses_to_listen_beyond_this_machine(
    tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str] = []
    monkeypatch.setattr("waitress.serve", lambda app, **options: served.append(options["host"]))
    # Development signs with the public development secret: on the network, anyone could
    # forge a staff session cookie with it (the attack opened /ops/audit as admin).
    env = {
        "NEWSALERTS_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "SECRET_KEY": "",
    }
    result = CliRunner().invoke(main, ["web", "--host", host, "--port", "8000"], env=env)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: --host {host} serves the network")
    assert "NEWSALERTS_ENV=production" in result.output
    assert "--host 127.0.0.1" in result.output
    assert served == []
