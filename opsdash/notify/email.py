"""Email: the escalation packet (report/escalation.py) as the body, sent with stdlib smtplib
in a thread (never on the event loop).

The packet is rendered when the notification is enqueued (the store has the alert's
history then) and kept in the outbox row, so a retry sends the same text. The
Message-ID is the notification id: a mail system that sees the same message twice
knows it, and so does a person reading the body, which names it too.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Mapping

from ..config import NotifyConfig
from ..model import iso
from ..store import OutboxRow
from ..textsafe import clean
from .errors import DeliveryError

__all__ = ["build_message", "send_email"]

MAX_PACKETS = 5  # a storm's mail lists every target, with the first few packets in full


def _who(row: OutboxRow) -> str:
    targets = sorted({ev["target"] for ev in row.alerts})
    if len(targets) == 1:
        return targets[0]
    shown = ", ".join(targets[:5]) + (", ..." if len(targets) > 5 else "")
    return f"{len(targets)} targets ({shown})"


def build_message(t: NotifyConfig, row: OutboxRow) -> EmailMessage:
    first: Mapping[str, Any] = row.alerts[0]
    word = {"firing": "FIRING", "resolved": "RESOLVED", "escalation": f"ESCALATED to {first['tier']}"}[row.event]
    sev = first["severity"]
    subject = clean(f"[opsdash] {word}: {row.grp} on {_who(row)} ({sev})", limit=200)
    lines = [f"{word}: {row.grp} on {_who(row)}", ""]
    for ev in row.alerts:
        end = f", resolved {iso(ev['ends_at'])}" if ev["event"] == "resolved" and ev.get("ends_at") else ""
        lines.append(f"- {ev['target']}: {ev.get('summary') or ev['rule']} ({ev['severity']}, {ev['tier']},"
                     f" since {iso(ev['since'])}{end}; alert {ev['alert_id']})")
    packets = [ev["packet"] for ev in row.alerts if ev.get("packet")][:MAX_PACKETS]
    for p in packets:
        lines += ["", "-" * 72, "", p.rstrip()]
    if len([ev for ev in row.alerts if ev.get("packet")]) > MAX_PACKETS:
        lines += ["", f"({len(row.alerts) - MAX_PACKETS} more alerts with a packet: see `opsdash alerts`)"]
    lines += ["", f"notification id: {row.id}"]
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = t.sender
    msg["To"] = ", ".join(t.to)
    msg["Date"] = formatdate(row.created_at, usegmt=True)
    msg["Message-ID"] = f"<{row.id}@opsdash>"
    msg["X-Opsdash-Notification-Id"] = row.id
    msg.set_content(clean("\n".join(lines), multiline=True) + "\n")
    return msg


def _send(t: NotifyConfig, msg: EmailMessage) -> None:
    host, port = t.smtp_host_port
    password = None
    if t.password_file:
        try:
            password = Path(t.password_file).expanduser().read_text().strip()
        except OSError as e:
            raise DeliveryError(f"password_file {t.password_file}: {e.strerror or e}") from None
    try:
        cls = smtplib.SMTP_SSL if port == 465 else smtplib.SMTP
        with cls(host, port, timeout=t.timeout) as smtp:
            if t.starttls and cls is smtplib.SMTP:
                smtp.starttls(context=ssl.create_default_context())
            if password is not None:
                smtp.login(t.username or t.sender, password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as e:
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        raise DeliveryError(f"smtp {t.smtp}: {e.smtp_code} {clean(text, limit=200)}",
                            permanent=500 <= e.smtp_code < 600) from None
    except smtplib.SMTPRecipientsRefused as e:
        raise DeliveryError(f"smtp {t.smtp}: recipients refused: {', '.join(e.recipients)}", permanent=True) from None
    except (smtplib.SMTPException, OSError) as e:
        raise DeliveryError(f"smtp {t.smtp}: {type(e).__name__}: {e}") from None


async def send_email(t: NotifyConfig, row: OutboxRow) -> None:
    """Send the notification's mail; DeliveryError if it was not accepted."""
    await asyncio.to_thread(_send, t, build_message(t, row))
