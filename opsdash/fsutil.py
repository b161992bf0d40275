"""Writing files so that a crash or a full disk never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], data: bytes | str, *, backup: bool = False) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename.

    With ``backup``, an existing file is first copied byte for byte to
    ``PATH.bak``; the new file keeps the old one's permissions.
    """
    p = Path(path).expanduser()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if p.exists():
            if backup:
                p.with_name(p.name + ".bak").write_bytes(p.read_bytes())
            os.chmod(tmp, p.stat().st_mode & 0o777)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
