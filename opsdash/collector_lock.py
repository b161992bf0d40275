"""One collector per store: an OS lock on a file beside the store.

``fcntl.flock`` on ``<store>.collector.lock``, taken without waiting by whoever
runs a collector that writes the store (``opsdash collect``, the TUI's
embedded collector, ``opsdash demo``). The kernel drops the lock when the
holder's descriptor closes, which includes a kill -9, so a stale lock cannot
exist and no heartbeat has to be guessed at: the next collector takes it at
once. The holder writes its PID into the file so a refusal can name it.

flock locks belong to an open file description, so two collectors in one
process (two opens of the file) exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import StoreError

__all__ = ["CollectorBusy", "CollectorLock", "lock_path"]


def lock_path(store_path: str | os.PathLike[str]) -> Path:
    p = Path(store_path)
    return p.with_name(p.name + ".collector.lock")


class CollectorBusy(StoreError):
    """Another process holds the store's collector lock."""

    def __init__(self, store_path: Path, pid: int | None):
        self.pid = pid
        who = f"PID {pid}" if pid else "another process"
        super().__init__(f"{store_path}: another collector ({who}) writes this store; not starting a second one")


class CollectorLock:
    """The collector lock of one store. ``acquire()`` raises CollectorBusy at once when held."""

    def __init__(self, store_path: str | os.PathLike[str]):
        self.store_path = Path(store_path)
        self.path = lock_path(store_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "CollectorLock":
        if self._fd is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open the collector lock: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CollectorBusy(self.store_path, self.holder()) from None
        except OSError as e:
            os.close(fd)
            raise StoreError(f"{self.path}: cannot take the collector lock: {e.strerror or e}") from None
        # The PID is for the refusal message only; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another collector holds it."""
        try:
            self.acquire()
        except CollectorBusy:
            return False
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)  # closing drops the flock

    def holder(self) -> int | None:
        """The PID written by the holder (None when unknown). A holder writes it just after
        taking the lock, so an empty file is read again for a moment."""
        for _ in range(20):
            try:
                text = self.path.read_text().strip()
            except OSError:
                return None
            if text.isdigit():
                return int(text)
            time.sleep(0.01)
        return None

    def __enter__(self) -> "CollectorLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
