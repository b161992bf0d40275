"""Pages that reach people: [[notify]] targets (Alertmanager, webhook, email).

- decide.py: what each target should be told now, level-triggered (no I/O)
- outbox.py: the Notifier: reconcile (enqueue in the store's outbox) and delivery
- alertmanager.py, webhook.py, email.py: one module per kind of receiver
- status.py: what is queued, sent and failing (`opsdash notify status`, the TUI)

Layering: this package sits above alerts/ and report/ (it renders the escalation
packet) and below commands/; the collector is handed a Notifier by its caller and
never imports it.
"""

from .outbox import Notifier, notifier_for

__all__ = ["Notifier", "notifier_for"]
