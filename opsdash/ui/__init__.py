"""The Textual app: six live panes over the store. The only layer that imports Textual."""

import os

# Textual paints at most TEXTUAL_FPS frames a second (default 60, read once, when Textual is
# imported: this package is the only importer). A filter key reaches the screen in two hops,
# the prompt's own line and then the panes it re-filtered, and each waited for a frame slot:
# 17-33 ms of a key's latency at 160x48 was frame pacing. Frames are painted only when
# something changed, so an idle dashboard paints no more often at 120 than at 60.
os.environ.setdefault("TEXTUAL_FPS", "120")
