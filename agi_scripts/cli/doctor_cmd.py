"""``respectline doctor``: is this Asterisk wired for Respectline? Each problem with its fix."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from agi_scripts.cli.common import load_bundle_or_report

SECRET_VARIABLE = "RESPECTLINE_DOCTOR_SECRET"


def register(commands: Any) -> None:
    from agi_scripts.cli.common import add_config_argument

    parser = commands.add_parser(
        "doctor", help="check a live Asterisk: modules, dialplan, codes, queues, sounds, server, AMI rights",
        description="Check over AMI that a running Asterisk has everything Respectline needs, that every "
                    "sound file it will play exists, that `respectline serve` answers where the dialplan "
                    "points and that the server's AMI account may do its job. Run it on the Asterisk host. "
                    "Exit 0: ready; 1: problems (each printed with its fix); 2: could not check.")
    add_config_argument(parser)
    parser.add_argument("--ami-user", metavar="NAME",
                        help="AMI account doctor inspects with: needs write = command,config (default: the "
                             f"config's ami.username, with its secret). Its secret comes from ${SECRET_VARIABLE} "
                             "or --ami-secret-stdin, never from the command line")
    parser.add_argument("--ami-secret-stdin", action="store_true",
                        help="read the --ami-user account's secret from the first line of standard input")
    parser.add_argument("--ami-host", help="AMI host (default: the config's ami.host)")
    parser.add_argument("--ami-port", type=int, help="AMI port (default: the config's ami.port)")
    parser.add_argument("--conf-dir", type=Path, default=None, metavar="DIR",
                        help="folder of the generated files, as named in the #include lines of the fixes "
                             "(default: Asterisk's configuration directory/respectline)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="longest wait for each AMI answer and each probe (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agi_scripts.doctor.run import EXIT_CANNOT_CHECK, DoctorOptions, run_doctor

    bundle = load_bundle_or_report(args.config, "fix the files above first (respectline validate)")
    if bundle is None:
        return EXIT_CANNOT_CHECK
    ami = bundle.settings.ami
    user, secret = ami.username, ami.secret
    if not args.ami_user and (args.ami_secret_stdin or SECRET_VARIABLE in os.environ):
        print(f"error: a secret was given (--ami-secret-stdin or ${SECRET_VARIABLE}) but no --ami-user "
              "to use it with", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if args.ami_user:
        user = args.ami_user
        if args.ami_secret_stdin:
            # A terminal gets no echo; a pipe or a file gives its first line.
            secret = getpass.getpass(f"secret of AMI account '{user}': ") if sys.stdin.isatty() \
                else sys.stdin.readline(4096).rstrip("\r\n")
        elif SECRET_VARIABLE in os.environ:
            secret = os.environ[SECRET_VARIABLE]
        else:
            print(f"error: give the secret of '{user}' in ${SECRET_VARIABLE} or with --ami-secret-stdin",
                  file=sys.stderr)
            return EXIT_CANNOT_CHECK
    elif not user:
        print(f"error: {args.config} has no ami.username; name doctor's AMI account with --ami-user "
              f"(write = command,config) and give its secret in ${SECRET_VARIABLE}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    if args.timeout <= 0:
        print("error: --timeout must be positive", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    options = DoctorOptions(config_file=args.config, ami_host=args.ami_host or ami.host,
                            ami_port=args.ami_port or ami.port, ami_user=user, ami_secret=secret,
                            conf_dir=args.conf_dir, timeout=args.timeout)
    return run_doctor(bundle, options, sys.stdout)
