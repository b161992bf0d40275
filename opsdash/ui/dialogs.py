"""Modal dialogs: ack (note), silence (duration + note), and the escalation packet."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..config import format_duration, parse_duration
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


class SilenceDialog(ModalScreen[SilenceRequest | None]):
    """Silence alerts matching ``matchers`` for a duration, with a note."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, matchers: dict[str, str], default: str = "1h") -> None:
        super().__init__(classes="dialog-screen")
        self.matchers = matchers
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Silence", style="bold"), classes="dialog-title")
            parts: list[Text | tuple[object, str] | str] = ["matching "]
            for i, (k, v) in enumerate(self.matchers.items()):
                parts += [", " if i else "", (k, "bold"), "=", (v, "")]
            yield Static(join(*parts), classes="dialog-what")
            yield Label("For how long (30m, 2h, 1d):")
            yield Input(value=self.default, id="duration")
            yield Label("Note:")
            yield Input(placeholder="why it is safe to silence", id="note")
            yield Static("", id="error", classes="dialog-error")
            yield dialog_buttons("Silence")

    def on_mount(self) -> None:
        self.query_one("#duration", Input).focus()

    @on(Input.Submitted, "#duration")
    def next_field(self) -> None:
        if self._duration() is not None:
            self.query_one("#note", Input).focus()

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
        d = self._duration()
        if d is None:
            self.query_one("#duration", Input).focus()
            return
        self.dismiss(SilenceRequest(d, self.query_one("#note", Input).value.strip()))

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
