"""``respectline validate``: check the config and every flow file before the server sees them."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from agi_scripts.cli.main import load_bundle_or_report


def register(commands: Any) -> None:
    from agi_scripts.cli.main import add_config_argument

    parser = commands.add_parser("validate", help="check config and flow files; list every error",
                                 description="Load the config and every flow file and report every problem "
                                             "as file:line:column: message. Exit 1 when there is any.")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle_or_report(args.config, "nothing was changed")
    if bundle is None:
        return 1
    print(f"OK: {args.config}")
    for line in bundle.summary(dt.datetime.now(bundle.settings.timezone)):
        print(f"  {line}")
    return 0
