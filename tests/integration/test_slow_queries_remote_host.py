"""A [[databases]] check on a configured host: psql runs there, over a real sshd on
loopback, through the one remote runner; the slow statement is first with its calls, and
a dsn_file read here (libpq key=value, password authentication) reaches the host's psql
through the script, and is in no row."""

from __future__ import annotations

import subprocess

import pytest

from opsdash.collect.ssh import SSHHost
from opsdash.config import parse_config
from opsdash.kinds.databases import KIND
from tests.support.databases import LocalContext, missing_postgres, postgres
from tests.support.sshd import Sshd

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing_postgres()), reason=f"not installed: {', '.join(missing_postgres())}")]

PASSWORD = "over-ssh-Pw-2b9e"


async def test_psql_on_a_configured_host_over_ssh(sshd: Sshd, tmp_path) -> None:
    with postgres(preload="pg_stat_statements", host_auth="scram-sha-256") as pg:
        pg.sql("CREATE EXTENSION pg_stat_statements")
        pg.sql(f"CREATE ROLE monitor LOGIN PASSWORD '{PASSWORD}' IN ROLE pg_read_all_stats")
        dsn = tmp_path / "db.dsn"
        dsn.write_text(f"host=127.0.0.1 port={pg.port} dbname=postgres user=monitor password={PASSWORD}\n")
        cfg = parse_config(sshd.host_toml("db-1") + f'[[databases]]\nname = "orders"\nengine = "postgresql"\n'
                           f'host = "db-1"\ndsn_file = "{dsn}"\nslow_ms = 10\n')
        check = cfg.checks["db"][0]
        assert KIND.vantages(check) == ("db-1",)
        host = SSHHost(cfg.hosts[0])
        try:
            ctx = LocalContext(runners={"db-1": host})
            first = await ctx.poll(KIND, check, "db-1")
            assert first["up"] and first["first"] and not first["errors"], first
            subprocess.run([*pg.psql_args(), "-f", "-"], input="SELECT count(*) FROM pg_sleep(0.02);\n" * 50,
                           text=True, check=True, capture_output=True, timeout=60)
            row = await ctx.poll(KIND, check, "db-1")
        finally:
            await host.close()
    assert row["ok"] and row["top_total"][0]["calls"] == 50 and "pg_sleep" in row["top_total"][0]["text"], row
    assert PASSWORD not in str(row)
