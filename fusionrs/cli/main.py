"""The `fusionrs` command. Thin: each subcommand module parses arguments and calls the library.

Subcommand modules import nothing heavy at module level, so `fusionrs --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fusionrs.cli import (
    build, captions, check_images, convert_clip, convert_diffv2ir, demo, env, eval_group, export_group, inspect_folder, push,
    reproduce, space, synth, train_group, vqa,
)

__all__ = ["main", "build_parser"]

SUBCOMMANDS = (
    reproduce, demo, build, captions, inspect_folder, synth, train_group, eval_group, push, space, check_images,
    convert_diffv2ir, convert_clip, export_group, env, vqa,
)


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line and exit status 2, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from fusionrs.version import __version__

    parser = _Parser(prog="fusionrs", description="RGB / infrared-style / caption data and models for remote sensing.")
    parser.add_argument("--version", action="version", version=f"fusionrs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from fusionrs.errors import FusionRSError

    try:
        return int(args.run(args) or 0)
    except (FusionRSError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        # Expected failures (bad input, missing files, permissions) get one line; real bugs keep their traceback.
        return _one_line_error(args.command, exc)
    except OSError as exc:
        if exc.errno not in _user_errnos():  # not the user's disk or mount: a bug, keep the traceback
            raise
        return _one_line_error(args.command, exc)
    except KeyboardInterrupt:
        sys.stderr.write(f"fusionrs {args.command}: interrupted\n")
        return 130


def _user_errnos() -> frozenset[int]:
    from fusionrs.core.output_folder import USER_OS_ERRNOS

    return USER_OS_ERRNOS


def _one_line_error(command: str, exc: BaseException) -> int:
    """Print `exc` as one line (multi-line messages joined with "; ") and return exit status 2."""
    message = str(exc)
    if isinstance(exc, OSError) and exc.strerror and exc.filename and str(exc.filename) not in message:
        message = f"{exc.filename}: {exc.strerror}"
    message = "; ".join(line.strip() for line in message.splitlines() if line.strip()) or type(exc).__name__
    sys.stderr.write(f"fusionrs {command}: error: {message}\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
