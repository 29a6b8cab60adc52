"""``respectline desk``: the web console for Special Care, Security, supervisors, admins and agents.

``respectline desk --listen HOST:PORT --db URL --config FILE`` serves it; ``respectline desk add-user
NAME --role ROLE`` makes an account (the password from standard input when it is not a terminal,
otherwise asked twice); ``set-password`` and ``users`` keep them.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path
from typing import Any

from agi_scripts.cli.common import CommandError, ReportContext, add_store_arguments, guarded, load_context
from agi_scripts.flows.abuse_policy import AbusePolicy, load_abuse_policy
from agi_scripts.ground.errors import ConfigError
from agi_scripts.storage import StoreError
from agi_scripts.storage.desk import ROLES, TEAM_ROLES

DEFAULT_LISTEN = "127.0.0.1:8080"
LANGUAGES = ("en", "nl", "fr")
_DURATION = re.compile(r"^(\d+)(s|m|h)?$")


def register(commands: Any) -> None:
    desk = commands.add_parser(
        "desk", help="the web console (cases, evidence, compliments) for staff's browsers",
        description="Serve the desk: Special Care and Security work their team's cases (live inbox, case page, "
                    "evidence player, police report), agents see their compliments and incidents, admins the "
                    "users. A separate process from `respectline serve`, on the same store. Without a "
                    "sub-command it serves; add-user, set-password and users keep the accounts.")
    add_store_arguments(desk)
    desk.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                      help="where to answer browsers (default: %(default)s; put a reverse proxy with HTTPS in front "
                           "for other machines)")
    desk.add_argument("--recordings", type=Path, action="append", default=[], metavar="DIR",
                      help="another folder recordings may be played from (paths.recordings of the config always is)")
    desk.add_argument("--idle-timeout", default="15m", metavar="DURATION",
                      help="a session ends after this long without a request (default: %(default)s)")
    desk.add_argument("--secure-cookies", choices=("auto", "always", "never"), default="auto",
                      help="mark cookies Secure: when the request came over HTTPS (auto, default), always or never")
    desk.set_defaults(func=run_desk)
    actions = desk.add_subparsers(dest="desk_action", metavar="ACTION")

    add = actions.add_parser("add-user", help="make a desk account",
                             description="Make a desk account. The password is read from standard input when it "
                                         "is not a terminal (one line), otherwise asked twice. Roles: "
                                         + ", ".join(ROLES) + ".")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--team", help="for special_care and security: the team id of flows/abuse_policy.yaml whose "
                                    "cases they work (default: the role's name)")
    add.add_argument("--agent", help="for agents: their name as in the config's agents: section (default: NAME)")
    add.add_argument("--language", choices=LANGUAGES, help="interface language (default: the browser's, until the "
                                                          "user chooses one on the desk's My settings page)")
    add.add_argument("--phone", metavar="ENDPOINT", help="their own phone, e.g. PJSIP/care1 (for calling back)")
    _store_options(add)
    add.set_defaults(func=run_add_user)

    password = actions.add_parser("set-password", help="give an account a new password (ends its sessions)")
    password.add_argument("name")
    _store_options(password)
    password.set_defaults(func=run_set_password)

    phone = actions.add_parser("set-phone", help="set or remove the phone a call back rings for an account",
                               description="The staff member's own phone endpoint (PJSIP/care1), rung first when "
                                           "they call a caller back from a case; an empty ENDPOINT removes it.")
    phone.add_argument("name")
    phone.add_argument("endpoint", help="e.g. PJSIP/care1, or \"\" to remove")
    _store_options(phone)
    phone.set_defaults(func=run_set_phone)

    users = actions.add_parser("users", help="list the desk accounts")
    _store_options(users)
    users.set_defaults(func=run_users)


def _store_options(parser: argparse.ArgumentParser) -> None:
    """--config and --db after the action too; given before it (``desk --db URL users``), they still count:
    argparse would otherwise let the action's own defaults overwrite them."""
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="Respectline configuration file (as for respectline desk)")
    parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="the store (default: store.url of the config)")


# ---------------------------------------------------------------- serving


@guarded
def run_desk(args: argparse.Namespace) -> int:
    from agi_scripts.desk.app import DeskOptions
    from agi_scripts.desk.security import SessionRules
    from agi_scripts.desk.serve import listening_socket, serve_desk
    from agi_scripts.server.options import parse_listen
    from agi_scripts.storage import open_store

    context = load_context(args.config, args.db)
    policy = _policy(context)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as error:
        raise CommandError(f"--listen: {error}", exit_code=2) from None
    idle = _seconds(args.idle_timeout, "--idle-timeout")
    recordings = (context.settings.recordings_dir, *(path.resolve() for path in args.recordings))
    options = DeskOptions(store_url=context.store_url, settings=context.settings, policy=policy,
                          recordings=tuple(recordings), rules=SessionRules(idle_timeout=idle),
                          secure_cookies={"auto": None, "always": True, "never": False}[args.secure_cookies])
    try:
        store = open_store(context.store_url)
    except StoreError as error:
        raise CommandError(f"cannot open the store: {error}") from None
    try:
        try:
            sock = listening_socket(host, port)
        except OSError as error:
            raise CommandError(f"cannot listen on {args.listen}: {error.strerror or error}") from None
        serve_desk(options, store, sock, lambda line: print(line, flush=True))
    finally:
        store.close()
    return 0


def _policy(context: ReportContext) -> AbusePolicy:
    errors: list[ConfigError] = []
    policy = load_abuse_policy(context.settings.flow_files["abuse_policy"], errors)
    if errors:
        details = "\n".join(f"  {error}" for error in errors[:20])
        raise CommandError(f"the abuse policy has errors (teams and outcomes come from it):\n{details}")
    return policy


def _seconds(text: str, option: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise CommandError(f"{option}: expected a duration such as 900s, 15m or 1h, got {text!r}", exit_code=2)
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


# ---------------------------------------------------------------- accounts


@guarded
def run_add_user(args: argparse.Namespace) -> int:
    from agi_scripts.desk.accounts import NewAccount, add_account

    context = load_context(args.config, args.db)
    team = args.team or (args.role if args.role in TEAM_ROLES else None)
    if args.role in TEAM_ROLES and context.config_usable:
        teams = _policy(context).teams
        if team not in teams:
            raise CommandError(f"--team {team!r} is not a team of the abuse policy; its teams: {', '.join(teams)}",
                               exit_code=2)
    if args.role not in TEAM_ROLES and args.team:
        raise CommandError(f"--team is for special_care and security users, not {args.role}", exit_code=2)
    if args.role != "agent" and args.agent:
        raise CommandError("--agent is for agent users", exit_code=2)
    password = _new_password()
    account = NewAccount(args.name, args.role, team=team, agent=args.agent, language=args.language, phone=args.phone)
    with context.store() as store:
        try:
            user = add_account(store, account, password)
        except ValueError as error:
            raise CommandError(str(error), exit_code=2) from None
    where = f", team {user.team}" if user.team else (f", agent {user.agent}" if user.agent else "")
    print(f"desk user {user.name} added ({user.role}{where})")
    return 0


@guarded
def run_set_password(args: argparse.Namespace) -> int:
    from agi_scripts.desk.passwords import check_new_password, hash_password
    from agi_scripts.storage.desk import DeskStore

    context = load_context(args.config, args.db)
    password = _new_password()
    try:
        check_new_password(password)
    except ValueError as error:
        raise CommandError(str(error), exit_code=2) from None
    with context.store() as store:
        try:
            DeskStore(store).set_password(args.name, hash_password(password))
        except StoreError:
            raise CommandError(f"there is no desk user named {args.name!r}") from None
    print(f"new password set for {args.name}; their sessions have ended")
    return 0


@guarded
def run_set_phone(args: argparse.Namespace) -> int:
    from agi_scripts.storage.desk import DeskStore

    context = load_context(args.config, args.db)
    with context.store() as store:
        try:
            DeskStore(store).set_phone(args.name, args.endpoint.strip() or None)
        except ValueError as error:
            raise CommandError(str(error), exit_code=2) from None
        except StoreError:
            raise CommandError(f"there is no desk user named {args.name!r}") from None
    print(f"phone of {args.name} set to {args.endpoint.strip()}" if args.endpoint.strip()
          else f"phone of {args.name} removed")
    return 0


@guarded
def run_users(args: argparse.Namespace) -> int:
    from agi_scripts.reports.render import Column, table
    from agi_scripts.storage.desk import DeskStore

    context = load_context(args.config, args.db)
    with context.store() as store:
        users = DeskStore(store).users()
    columns = (Column("name", "name"), Column("role", "role"), Column("team", "team"), Column("agent", "agent"),
               Column("language", "language"), Column("phone", "phone"))
    # A user who never chose a language sees the desk in their browser's.
    rows = [{"name": u.name, "role": u.role, "team": u.team, "agent": u.agent,
             "language": u.language if u.language_chosen_at else "browser's", "phone": u.phone} for u in users]
    sys.stdout.write(table(columns, rows, empty="no desk users"))
    return 0


def _new_password() -> str:
    """From standard input when it is not a terminal (its first line), otherwise asked twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise CommandError("no password on standard input", exit_code=2)
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise CommandError("the two passwords differ", exit_code=2)
    return first

