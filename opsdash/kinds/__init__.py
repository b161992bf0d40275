"""Probe kinds: one module per kind, declaring everything opsdash knows about it.

A kind module sits *below* config and collect: it imports the model, errors and
its parser, nothing else of opsdash. config.py asks it for its keys and their
checks; the collector hands it the one remote runner (``Remote``) to run its
scripts through; the rules ask it for runbook text. So adding a kind is its
module, its parser, tests and docs (docs/architecture.md, "Probe kinds").
"""
