"""One module per subcommand: ``register(subparsers, common)`` adds it, ``run(args)`` does it."""

# The commands registered by a module of another name (every other command's module is its
# name). cli.build_parser imports only the module of the command being run: the others'
# imports (asyncssh, Textual, httpx) were most of every command's start-up. A test checks
# this against what each module registers.
MODULE_OF = {
    "ack": "alerts", "unack": "alerts", "silence": "alerts", "unsilence": "alerts", "escalate": "alerts",
    "check-config": "check_config", "note": "handover",
}
