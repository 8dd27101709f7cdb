"""The ``monai-despeckle`` command line.

Each subcommand lives in its own module under :mod:`monai_despeckle.commands` and exposes
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. This file only wires
them together and turns :class:`~monai_despeckle.errors.DespeckleError` (and running out of memory,
or an operating-system refusal) into a one-line message and exit status 2, and Ctrl-C, SIGTERM and
SIGHUP into one line and status 128 + the signal's number, after every partial output is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence

from monai_despeckle import __version__
from monai_despeckle.errors import DespeckleError
from monai_despeckle.malloc_tuning import return_freed_buffers_promptly
from monai_despeckle.stop_signals import stop_signals_raise

# Subcommand name -> module under monai_despeckle.commands, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "info": "info",
    "simulate": "simulate",
    "methods": "methods",
    "evaluate": "evaluate",
    "denoise": "denoise",
    "benchmark": "benchmark",
    "export": "export",
    "train": "train",
    "adapt": "adapt",
    "segment": "segment",
    "segment-eval": "segment_eval",
    "label": "label",
}

EXIT_USER_ERROR = 2


def _load_command(module_name: str):
    return importlib.import_module(f"monai_despeckle.commands.{module_name}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="monai-despeckle",
        description="Ultrasound speckle reduction: learned despecklers, classical baselines, "
        "speckle synthesis and phantoms.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        try:
            module = _load_command(module_name)
        except ModuleNotFoundError as err:
            if err.name == f"monai_despeckle.commands.{module_name}":
                continue  # command not shipped in this build
            raise
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as ``warning: <message>`` (no source line: users did not write that code)."""
    print(f"warning: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``monai-despeckle`` console script."""
    return_freed_buffers_promptly()  # bounded peak memory over long streamed runs (see the module)
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
    )
    try:
        with stop_signals_raise():  # SIGTERM / SIGHUP unwind (staging removed) like Ctrl-C
            return int(args._run(args) or 0)
    except DespeckleError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as err:
        signum = int(getattr(err, "signum", signal.SIGINT))
        name = getattr(err, "name", "SIGINT")
        print(f"interrupted by {name}: partial output removed", file=sys.stderr)
        return 128 + signum  # the shell's status for a process ended by that signal
    except BrokenPipeError:
        # the reader went away (`monai-despeckle info x | head`): stop quietly, as Unix tools do;
        # stdout is pointed at devnull so that the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the shell's status for a process ended by a broken pipe
    except MemoryError as err:  # where no file-specific handler could name the file
        print(f"error: ran out of memory ({err or 'an allocation failed'})", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:  # the system refused something no reader or writer anticipated
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_USER_ERROR


def console_main() -> None:
    """The ``monai-despeckle`` console script: :func:`main`, then an exit without interpreter teardown.

    When :func:`main` returns every output is complete, closed and renamed into place (or removed),
    so what is left is Python's teardown of torch, ONNX Runtime and their thread pools: about half
    a second on two cores, a twentieth of a 200-frame run. Standard streams and logging are flushed
    first; nothing of this package relies on exit handlers.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
