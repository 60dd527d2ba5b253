"""The `graphkit` command. Each subcommand is a module `cmd_<name>.py` with `add_parser` and `run`."""
