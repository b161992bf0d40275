"""Name resolution that never blocks the event loop and always ends in time.

``socket.getaddrinfo`` blocks for as long as the resolver takes (20 s is not rare
with a dead DNS server). Each lookup runs in its own daemon thread and the loop
waits for it with a deadline, so a slow name costs that one host its timeout and
nothing else.

Why not ``loop.getaddrinfo``: it uses the loop's default executor, which the
collector shares with store writes and asyncssh's option loading; a few hung
lookups would fill it and stall every host, and ``asyncio.run`` joins it on exit,
so ``collect`` would wait out the resolver before stopping. A lookup that hits
its deadline here is abandoned: its daemon thread ends when the resolver answers,
and at most ``MAX_LOOKUPS`` of them run at once per loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import weakref
from typing import Any

MAX_LOOKUPS = 16

AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]

_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


class ResolveError(OSError):
    """The name has no address, or none arrived in time; the message says which."""


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def getaddrinfo(host: str, port: int, timeout: float) -> list[AddrInfo]:
    """TCP addresses for ``host``: at once for a literal address, else from a thread, within ``timeout``."""
    if is_address(host):
        # AI_NUMERICHOST never asks a resolver: safe on the loop.
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_LOOKUPS)
    try:
        async with asyncio.timeout(timeout):
            await slots.acquire()
            fut: asyncio.Future[list[AddrInfo]] = loop.create_future()
            threading.Thread(
                target=_lookup, args=(loop, fut, slots, host, port), name=f"resolve {host}", daemon=True
            ).start()
            return await fut  # on the deadline it is cancelled; the thread then only frees its slot
    except TimeoutError:
        raise ResolveError(f"cannot resolve {host}: no answer within {timeout:g}s") from None


def _lookup(
    loop: asyncio.AbstractEventLoop, fut: "asyncio.Future[list[AddrInfo]]", slots: asyncio.Semaphore, host: str, port: int
) -> None:
    try:
        result: Any = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        error: BaseException | None = None
    except socket.gaierror as e:
        result, error = None, ResolveError(f"cannot resolve {host}: {e.strerror}")
    except Exception as e:  # noqa: BLE001 - any failure is the lookup's, reported to its waiter
        result, error = None, ResolveError(f"cannot resolve {host}: {e}")

    def deliver() -> None:
        slots.release()
        if fut.done():  # the waiter gave up at its deadline
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    try:
        loop.call_soon_threadsafe(deliver)
    except RuntimeError:  # the loop has closed meanwhile: nobody is waiting
        pass
