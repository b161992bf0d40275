"""Modal dialogs: ack (note), silence (matchers + duration + note), unsilence, and the escalation packet."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..alerts.queue import MatcherVocabulary, QueueError, describe_silence, parse_matchers
from ..config import format_duration, parse_duration
from ..store import Silence
from .safetext import join, safe


def dialog_buttons(ok: str) -> Horizontal:
    """The OK / Cancel row every dialog ends with (Enter submits, Esc cancels)."""
    return Horizontal(
        Button(f"{ok}  ⏎", variant="primary", id="ok"),
        Button("Cancel  esc", id="cancel"),
        classes="dialog-buttons",
    )


class AckDialog(ModalScreen[str | None]):
    """Ack an alert with a note. Enter acks, Esc cancels. Returns the note or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: Text, already: Text | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.what = what
        self.already = already

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Acknowledge", style="bold"), classes="dialog-title")
            yield Static(self.what, classes="dialog-what")
            if self.already is not None:
                yield Static(self.already, classes="dialog-note")
            yield Label("Note (what you are doing about it):")
            yield Input(placeholder="e.g. looking at it, disk cleanup running", id="note")
            yield dialog_buttons("Ack")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        self.dismiss(self.query_one("#note", Input).value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class SilenceRequest:
    duration_s: float
    note: str
    matchers: dict[str, str] = field(default_factory=dict)


def matchers_text(matchers: dict[str, str]) -> str:
    """``target=web-1 rule=disk``, quoted where a value has spaces (read back with ``shlex.split``)."""
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in matchers.items())


class SilenceDialog(ModalScreen[SilenceRequest | None]):
    """Silence alerts matching ``matchers`` (editable: widen to ``role=web``) for a duration, with a note.

    The matchers are checked as ``opsdash silence --match`` checks them (``queue.parse_matchers``
    with the vocabulary of what alerts can carry, which ``vocabulary`` loads off the UI thread),
    so a typo shows "did you mean" here too instead of silencing nothing."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, matchers: dict[str, str], default: str = "1h",
                 vocabulary: Callable[[], MatcherVocabulary] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.matchers = matchers
        self.default = default
        self._load_vocabulary = vocabulary
        self.vocabulary: MatcherVocabulary | None = None
        self._vocabulary_pending = vocabulary is not None
        self._submit_waiting = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Silence", style="bold"), classes="dialog-title")
            yield Label("Matching (key=value, all must match):")
            yield Input(value=matchers_text(self.matchers), id="matchers")
            yield Label("For how long (30m, 2h, 1d):")
            yield Input(value=self.default, id="duration")
            yield Label("Note:")
            yield Input(placeholder="why it is safe to silence", id="note")
            yield Static("", id="error", classes="dialog-error")
            yield dialog_buttons("Silence")

    def on_mount(self) -> None:
        self.query_one("#duration", Input).focus()
        if self._load_vocabulary is not None:
            self._vocabulary_worker()

    @work(thread=True, exit_on_error=False)
    def _vocabulary_worker(self) -> None:
        assert self._load_vocabulary is not None
        try:
            vocabulary: MatcherVocabulary | None = self._load_vocabulary()
        except Exception:  # noqa: BLE001 - no store to read: the matchers' syntax is still checked
            vocabulary = None
        self.app.call_from_thread(self._vocabulary_ready, vocabulary)

    def _vocabulary_ready(self, vocabulary: MatcherVocabulary | None) -> None:
        self.vocabulary, self._vocabulary_pending = vocabulary, False
        if self._submit_waiting and self.is_attached:
            self._submit_waiting = False
            self.submit()

    @on(Input.Submitted, "#matchers")
    def _matchers_done(self) -> None:
        if self._matchers() is not None:
            self.query_one("#duration", Input).focus()

    @on(Input.Submitted, "#duration")
    def next_field(self) -> None:
        if self._duration() is not None:
            self.query_one("#note", Input).focus()

    def _matchers(self) -> dict[str, str] | None:
        text = self.query_one("#matchers", Input).value
        err = self.query_one("#error", Static)
        try:
            matchers = parse_matchers(shlex.split(text), self.vocabulary)
        except ValueError as e:  # an unclosed quote
            err.update(safe(f"matchers: {e}"))
            return None
        except QueueError as e:
            err.update(safe(str(e)))
            return None
        if not matchers:
            err.update(Text("a silence needs at least one matcher, like target=web-1"))
            return None
        err.update("")
        return matchers

    def _duration(self) -> float | None:
        text = self.query_one("#duration", Input).value
        err = self.query_one("#error", Static)
        try:
            d = parse_duration(text)
        except ValueError:
            err.update(join(("expected a duration like 30m, 2h or 1d, got ", "bold"), (repr(text), "")))
            return None
        if d <= 0:
            err.update(Text("the duration must be more than 0"))
            return None
        err.update("")
        return d

    @on(Input.Submitted, "#note")
    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        if self._vocabulary_pending:  # the labels are still being read (milliseconds): check them then
            self._submit_waiting = True
            return
        matchers = self._matchers()
        if matchers is None:
            self.query_one("#matchers", Input).focus()
            return
        d = self._duration()
        if d is None:
            self.query_one("#duration", Input).focus()
            return
        self.dismiss(SilenceRequest(d, self.query_one("#note", Input).value.strip(), matchers))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class UnsilenceDialog(ModalScreen[list[int] | None]):
    """End the silences that cover an alert (or a target's alerts) now. ``silences`` loads them
    off the UI thread; Enter ends every one listed, Esc cancels. Returns the ids or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: Text, silences: Callable[[], Sequence[Silence]], now: Callable[[], float]) -> None:
        super().__init__(classes="dialog-screen")
        self.what = what
        self._load = silences
        self.now = now
        self.silences: list[Silence] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("End silence", style="bold"), classes="dialog-title")
            yield Static(self.what, classes="dialog-what")
            yield Static(Text("loading…", style="italic"), id="silences")
            yield Static("", id="error", classes="dialog-error")
            yield dialog_buttons("End")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()
        self._load_worker()

    @work(thread=True, exit_on_error=False)
    def _load_worker(self) -> None:
        try:
            found: list[Silence] | str = list(self._load())
        except Exception as e:  # noqa: BLE001 - shown, never a crash
            found = f"cannot read the silences: {e}"
        self.app.call_from_thread(self._loaded, found)

    def _loaded(self, found: list[Silence] | str) -> None:
        box = self.query_one("#silences", Static)
        if isinstance(found, str):
            box.update(safe(found))
            return
        self.silences = found
        if not found:
            box.update(Text("no active silence covers this; nothing to end"))
            return
        now = self.now()
        lines = [safe(describe_silence(s, now)) for s in found]
        head = Text("Enter ends this silence:" if len(found) == 1 else f"Enter ends these {len(found)} silences:")
        box.update(Text("\n").join([head, *lines]))

    @on(Button.Pressed, "#ok")
    def submit(self) -> None:
        if self.silences is None:
            return  # still loading
        self.dismiss([s.id for s in self.silences] or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PacketScreen(ModalScreen[bool]):
    """The escalation packet (Markdown, shown literally so it can be copied into a ticket).

    ``y`` records the escalation to the next tier; Esc closes without recording.
    """

    BINDINGS = [
        Binding("y", "record", "Record escalation"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self, title: Text, markdown: str, to_tier: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.markdown = markdown
        self.to_tier = to_tier

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog packet"):
            yield Static(join(("Escalation packet  ", "bold"), self.title_text), classes="dialog-title")
            with VerticalScroll(classes="packet-body"):
                yield Static(safe(self.markdown, multiline=True))
            yield Static(
                join(("y", "bold"), f" record escalation to {self.to_tier}   ", ("esc", "bold"), " close"),
                classes="dialog-help",
            )

    def action_record(self) -> None:
        self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)


def duration_text(seconds: float) -> str:
    return format_duration(seconds)
