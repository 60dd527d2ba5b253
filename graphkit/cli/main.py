"""Entry point of the `graphkit` command.

Subcommands are discovered from `graphkit/cli/cmd_<name>.py`; each module defines
`HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. Exit codes: 0 ok, 1 a check
failed, 2 bad input or usage. Errors of graphkit/refruntime print one line on stderr, no traceback.
Modules import heavy packages (torch, numba) inside `run`, never at import time.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints usage + exits 2; keep it to one line
        sys.stderr.write(f"graphkit: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _command_modules():
    import graphkit.cli as pkg

    names = sorted(i.name[4:] for i in pkgutil.iter_modules(pkg.__path__) if i.name.startswith("cmd_"))
    return {name: importlib.import_module(f"graphkit.cli.cmd_{name}") for name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphkit", description="ONNX graph surgery, reference runtime and verification")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _command_modules().items():
        cmd = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from graphkit.errors import GraphkitError
    from refruntime.errors import RefRuntimeError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args._run(args) or 0)
    except (GraphkitError, RefRuntimeError) as exc:
        sys.stderr.write(f"graphkit {args.command}: {type(exc).__name__}: {exc}\n")
        return EXIT_BAD_INPUT
    except FileNotFoundError as exc:
        sys.stderr.write(f"graphkit {args.command}: file not found: {exc.filename}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("graphkit: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
