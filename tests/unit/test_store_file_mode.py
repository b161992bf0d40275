"""The store is private: created 0600 (with its WAL and shared-memory files), like the handover file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from opsdash.model import Sample
from opsdash.store import Store


def test_a_new_store_and_its_wal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "store.sqlite"
        s = Store(path)
        s.write_poll([Sample(1.0, "web-1", "host.up", 1.0)], [])
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert p.exists(), p
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
        s.close()
    finally:
        os.umask(old)
