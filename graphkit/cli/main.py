"""Entry point of the `graphkit` command.

Subcommands are discovered from `graphkit/cli/cmd_<name>.py`; each module defines
`HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. Exit codes: 0 ok, 1 a check
failed, 2 bad input or usage. Errors of graphkit/refruntime print one line on stderr, no traceback.

Start-up stays cheap: this module, argparse and the command modules import nothing heavy, so
`graphkit --help` never loads numpy, onnx or refruntime (tools/bench_startup.py measures it).
Commands import what they need inside `run`.

Streams: a reader that closes the pipe early (`graphkit run m.onnx | head -2`) ends the command
quietly: stdout is pointed at /dev/null, and the exit code is the command's own when it had
finished, else 141 (128 + SIGPIPE, what the shell reports for any tool cut off that way).
`--verbose` lets onnxruntime log its warnings (off otherwise: they are not graphkit's lines).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 141


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints usage + exits 2; keep it to one line
        sys.stderr.write(f"graphkit: error: {' '.join(message.split())}\n")
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
        cmd.add_argument("--verbose", action="store_true",
                         help="let onnxruntime print its own warnings on stderr (quiet by default)")
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    code = None
    try:
        try:
            code = _main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2, already printed)
            code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_BAD_INPUT)
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        return EXIT_BROKEN_PIPE if code is None else code
    return code


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    if args.verbose:
        os.environ["GRAPHKIT_VERBOSE"] = "1"
    try:
        _check_model_path(args)
        return int(args._run(args) or 0)
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("graphkit: interrupted\n")
        return 130
    except Exception as exc:
        message = _error_line(args.command, exc)
        if message is None:
            raise
        sys.stderr.write(message + "\n")
        return EXIT_BAD_INPUT


def _error_line(command: str, exc: Exception) -> str | None:
    """The one stderr line of an error a user can cause; None for a bug (its traceback shows).
    refruntime's error types are checked only if refruntime was imported: --help never pays for it."""
    from graphkit.errors import GraphkitError

    ours = isinstance(exc, GraphkitError)
    errors = sys.modules.get("refruntime.errors")
    if errors is not None and isinstance(exc, errors.RefRuntimeError):
        ours = True
    if ours:
        return f"graphkit {command}: {type(exc).__name__}: {_one_line(str(exc))}"
    if isinstance(exc, FileNotFoundError):
        return f"graphkit {command}: file not found: {exc.filename}"
    if isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)) or (
            isinstance(exc, OSError) and exc.errno is not None and exc.filename):
        where = f": {exc.filename}" if exc.filename else ""
        return f"graphkit {command}: {type(exc).__name__}: {exc.strerror or exc}{where}"
    return None


def _check_model_path(args) -> None:
    """The model argument of every command, checked before any work: the same words everywhere."""
    from graphkit.errors import LoadError

    path = getattr(args, "model", None)
    if not isinstance(path, str):
        return
    if os.path.isdir(path):
        raise LoadError(f"{path} is a folder, not an .onnx file")
    if not os.path.exists(path):
        raise LoadError(f"model file not found: {path}")


def _one_line(text: str) -> str:
    """An error message that spans lines (a list of ops, a nested cause) joined into one."""
    return "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _drop_stdout() -> None:
    """After a closed pipe: later writes (and the interpreter's final flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout already closed or not a real file
        pass


if __name__ == "__main__":
    sys.exit(main())
