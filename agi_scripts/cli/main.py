"""``respectline``: one command-line entry with a sub-command per job."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agi_scripts.config.bundle import Bundle

from agi_scripts import __version__

DEFAULT_CONFIG = Path(os.environ.get("RESPECTLINE_CONFIG", "config/respectline.yaml"))

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="respectline",
        description="Hold campaigns, post-call compliments and an abuse policy for Asterisk contact centres.",
    )
    parser.add_argument("--version", action="version", version=f"respectline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from agi_scripts.cli import (asterisk_conf_cmd, cases_cmd, demo_cmd, doctor_cmd, privacy_cmd, prompts_cmd,
                                 report_cmd, serve_cmd, validate_cmd)

    # One module per sub-command, each with ``register(subparsers)``.
    for module in (validate_cmd, serve_cmd, prompts_cmd, asterisk_conf_cmd, report_cmd, cases_cmd, privacy_cmd, demo_cmd,
                   doctor_cmd):
        module.register(commands)
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"Respectline configuration file (default: {DEFAULT_CONFIG}, or $RESPECTLINE_CONFIG)")


def load_bundle_or_report(config: Path, consequence: str) -> Bundle | None:
    """The validated bundle, or ``None`` after printing every error and ``consequence`` to stderr."""
    from agi_scripts.config.bundle import load_bundle
    from agi_scripts.ground.errors import ValidationFailed

    try:
        return load_bundle(config)
    except ValidationFailed as failed:
        for error in failed.errors:
            print(error, file=sys.stderr)
        count = len(failed.errors)
        print(f"{count} error{'s' if count != 1 else ''}; {consequence}", file=sys.stderr)
        return None


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
