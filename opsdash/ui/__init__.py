"""The Textual app: six live panes over the store. The only layer that imports Textual."""
