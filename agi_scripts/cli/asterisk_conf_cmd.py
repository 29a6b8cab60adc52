"""``respectline asterisk-conf``: write (or check) the Asterisk files generated from the flows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agi_scripts.asterisk_conf.generate import generate, write
from agi_scripts.cli.common import load_bundle_or_report


def register(commands: Any) -> None:
    from agi_scripts.cli.common import add_config_argument

    parser = commands.add_parser(
        "asterisk-conf", help="generate the Asterisk dialplan, features, queues and hold-music files",
        description="Write the files to #include in Asterisk, generated from the config and flows so "
                    "the agents' codes and campaigns always match the YAML.")
    add_config_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("asterisk_conf"), help="folder to write (default: %(default)s)")
    parser.add_argument("--agi", default=None, metavar="ADDRESS",
                        help="how Asterisk reaches `respectline serve`: HOST:PORT, agi://HOST:PORT, or hagi://NAME "
                             "for several servers found by DNS SRV (_agi._tcp.NAME) (default: the config's listen)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files in --out differ from what would be generated")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle_or_report(args.config, "fix the files above first (respectline validate)")
    if bundle is None:
        return 1
    server = bundle.settings.server
    try:
        files = generate(bundle, args.agi or f"{server.host}:{server.port}")
    except ValueError as exc:
        print(f"error: --agi: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = [name for name, text in files.items()
                 if not (args.out / name).exists() or (args.out / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{args.out / name}: out of date with the flows; run `respectline asterisk-conf`", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.out, files):
        print(f"wrote {path}")
    return 0
