"""opsdash: a terminal operations dashboard for on-call engineers."""

__version__ = "0.1.0"
