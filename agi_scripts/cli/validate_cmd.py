"""``respectline validate``: check the config and every flow file before the server sees them."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from agi_scripts.asterisk_conf.generate import missing_sounds
from agi_scripts.cli.common import load_bundle_or_report
from agi_scripts.config.bundle import Bundle


def register(commands: Any) -> None:
    from agi_scripts.cli.common import add_config_argument

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
    for warning in bundle.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    warn_about_missing_sounds(bundle, args.config)
    return 0


def warn_about_missing_sounds(bundle: Bundle, config: Path, shown: int = 5) -> None:
    """The files are valid, but callers would hear silence where paths.sounds lacks what they name."""
    missing = missing_sounds(bundle)
    if not missing:
        return
    sounds = bundle.settings.sounds_dir
    print(f"warning: paths.sounds ({sounds}) lacks {len(missing)} of the sound files the prompts and the "
          "hold-music classes name; callers would hear silence there:", file=sys.stderr)
    for file in missing[:shown]:
        print(f"  {file}", file=sys.stderr)
    if len(missing) > shown:
        print(f"  ... and {len(missing) - shown} more", file=sys.stderr)
    print(f"fix: respectline prompts build --config {config} && respectline prompts install --config {config} "
          f"&& respectline prompts hold-music --config {config} (on the Asterisk host), or set paths.sounds "
          "to Asterisk's sounds folder (<astdatadir>/sounds)", file=sys.stderr)
