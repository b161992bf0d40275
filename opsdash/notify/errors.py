"""Delivery failures, and the one HTTP POST every HTTP kind makes."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import httpx

from ..errors import OpsdashError
from ..textsafe import clean, redact, redact_url

__all__ = ["DeliveryError", "post_json"]


class DeliveryError(OpsdashError):
    """A notification was not delivered. ``permanent``: the receiver refused it (a 4xx other
    than 408/429, a 5xx SMTP reply): trying again would get the same answer."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


async def post_json(client: httpx.AsyncClient, url: str, body: Any, *, timeout: float,
                    headers: Mapping[str, str] | None = None, secrets: Iterable[str] = ()) -> None:
    """POST ``body`` as JSON; anything but a 2xx is a DeliveryError whose text shows no secret
    (the URL's credentials, header values) even when the receiver echoes them back."""
    secrets = list(secrets)
    shown = redact_url(url)
    try:
        r = await client.post(url, content=json.dumps(body).encode(), timeout=timeout,
                              headers={"Content-Type": "application/json", **(headers or {})})
    except httpx.TimeoutException:
        raise DeliveryError(f"{shown}: no reply within {timeout:g}s") from None
    except httpx.HTTPError as e:
        raise DeliveryError(redact(f"{shown}: {type(e).__name__}: {e}", secrets) or "") from None
    if 200 <= r.status_code < 300:
        return
    text = redact(clean(r.text, limit=200), secrets) or ""
    permanent = 400 <= r.status_code < 500 and r.status_code not in (408, 429)
    raise DeliveryError(f"{shown}: HTTP {r.status_code}" + (f": {text}" if text else ""), permanent=permanent)
