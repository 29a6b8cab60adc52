"""``respectline validate``: check the config and every flow file before the server sees them."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.errors import ValidationFailed


def register(commands: Any) -> None:
    from agi_scripts.cli.main import add_config_argument

    parser = commands.add_parser("validate", help="check config and flow files; list every error",
                                 description="Load the config and every flow file and report every problem "
                                             "as file:line:column: message. Exit 1 when there is any.")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        bundle = load_bundle(args.config)
    except ValidationFailed as failed:
        for error in failed.errors:
            print(error, file=sys.stderr)
        count = len(failed.errors)
        print(f"{count} error{'s' if count != 1 else ''}; nothing was changed", file=sys.stderr)
        return 1
    print(f"OK: {args.config}")
    for line in bundle.summary(dt.datetime.now(bundle.settings.timezone)):
        print(f"  {line}")
    return 0
