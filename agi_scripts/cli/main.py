"""``respectline``: one command-line entry with a sub-command per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agi_scripts import __version__

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="respectline",
        description="Hold campaigns, post-call compliments and an abuse policy for Asterisk contact centres.",
    )
    parser.add_argument("--version", action="version", version=f"respectline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from agi_scripts.cli import (asterisk_conf_cmd, cases_cmd, compliments_cmd, demo_cmd, desk_cmd, doctor_cmd,
                                 privacy_cmd, prompts_cmd, report_cmd, serve_cmd, transcribe_cmd, validate_cmd)

    # One module per sub-command, each with ``register(subparsers)``.
    for module in (validate_cmd, serve_cmd, prompts_cmd, asterisk_conf_cmd, report_cmd, cases_cmd, compliments_cmd,
                   privacy_cmd, demo_cmd, doctor_cmd, desk_cmd, transcribe_cmd):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
