"""`opsdash once --probe db` on a real PostgreSQL: a check whose user may read
pg_stat_statements is ok (its first reading), one refused the view is a warning (the
db-stats-unreadable rule, not a database down) with the one line naming the view, in the
JSON snapshot and the text report alike, and the exit status says WARNING."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import missing_postgres, postgres

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_postgres()), reason=f"not installed: {', '.join(missing_postgres())}")]


def test_once_shows_a_refused_view_as_a_warning_with_its_line(tmp_path: Path) -> None:
    with postgres(preload="pg_stat_statements") as pg:
        pg.sql("CREATE EXTENSION pg_stat_statements")
        pg.sql("CREATE ROLE nopriv LOGIN")
        pg.sql("REVOKE SELECT ON pg_stat_statements FROM PUBLIC")
        cfg = tmp_path / "config.toml"
        common = f'engine = "postgresql"\nsocket = "{pg.socket}"\nport = {pg.port}\ndatabase = "postgres"\n'
        cfg.write_text(f'[[databases]]\nname = "orders"\nuser = "postgres"\n{common}'
                       f'[[databases]]\nname = "locked"\nuser = "nopriv"\n{common}')
        once = [sys.executable, "-m", "opsdash", "once", "--config", str(cfg), "--probe", "db"]
        js = subprocess.run([*once, "--format", "json"], capture_output=True, text=True, timeout=60)
        text = subprocess.run(once, capture_output=True, text=True, timeout=60)
    assert js.returncode == 1 and text.returncode == 1, (js.stderr, text.stderr)
    checks = {c["name"]: c for c in json.loads(js.stdout)["checks"]}
    assert checks["orders"]["level"] == "ok" and checks["orders"]["up"] and checks["orders"]["first"]
    locked = checks["locked"]
    assert locked["level"] == "warning" and locked["up"] and locked["version"].startswith("15")
    assert locked["errors"] == ["pg_stat_statements (psql as nopriv): permission denied for view pg_stat_statements "
                                "(GRANT pg_read_all_stats, or SELECT on the view, to the check's user)"]
    # The alert's summary carries the one line (the report wraps it at 80 columns).
    alerts = " ".join(text.stdout.split("ALERTS", 1)[1].split())
    assert "locked from local: cannot read statement statistics: pg_stat_statements (psql as nopriv): " \
           "permission denied for view pg_stat_statements" in alerts, text.stdout
