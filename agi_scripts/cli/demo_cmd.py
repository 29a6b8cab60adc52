"""``respectline demo`` (a narrated scenario) and ``respectline sandbox-run`` (a sandbox for a softphone)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from agi_scripts.storage.base import StoreError, sqlite_path


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the narrated demo on a real Asterisk with SIP phones",
                               description="Start a private Asterisk and Respectline, play three scripted calls "
                                           "(a compliment, an abusive caller, his call back) and summarise the "
                                           "store. Needs Asterisk: run `make demo` to have it installed.")
    demo.add_argument("--db", default="sqlite:///var/demo.sqlite", help="store to leave the results in "
                      "(default: %(default)s; replaced at each run)")
    demo.set_defaults(func=run_demo_command)

    run = commands.add_parser("sandbox-run", help="start the sandbox and keep it running for a softphone",
                              description="Start Asterisk and Respectline and print the SIP accounts, numbers "
                                          "and agent codes; runs until Ctrl-C.")
    run.add_argument("--db", default="sqlite:///var/sandbox.sqlite", help="store (default: %(default)s)")
    run.set_defaults(func=run_sandbox_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from agi_scripts.sandbox.demo import run_demo

    path = _sqlite_file(args.db)
    if path is None:
        return 2
    code = run_demo(path)
    if code == 0:
        _desk_accounts(path)
    return code


def _desk_accounts(db_file: Path) -> None:
    """One desk account per role in the demo's store, with new random passwords, printed and kept
    (readable by the owner only) beside the store for ``make desk``."""
    from agi_scripts.desk.accounts import demo_accounts
    from agi_scripts.prompts.files import write_atomic
    from agi_scripts.storage import open_store

    store = open_store(f"sqlite:///{db_file.resolve()}")
    try:
        made = demo_accounts(store)
    finally:
        store.close()
    lines = [f"Desk accounts in {db_file} (make desk, then http://127.0.0.1:8080):"]
    for account, password in made:
        what = account.role + (f", team {account.team}" if account.team else "") + \
            (f", agent {account.agent}" if account.agent else "")
        lines.append(f"  {account.name:<11} password {password}   ({what})")
    text = "\n".join(lines) + "\n"
    write_atomic(db_file.resolve().with_name("demo-desk-accounts.txt"), text.encode("utf-8"), mode=0o600)
    print(text, end="", flush=True)


def run_sandbox_command(args: argparse.Namespace) -> int:
    from agi_scripts.sandbox.demo import demo_flows
    from agi_scripts.sandbox.stack import RespectlineStack, StackOptions

    path = _sqlite_file(args.db)
    if path is None:
        return 2
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="rl-run-"))
    options = StackOptions(agents={"agent1": ["support", "billing"], "care1": ["special-care"],
                                   "security1": ["security"]},
                           callers=("softphone",), flows_dir=demo_flows(work), db_url=f"sqlite:///{path.resolve()}")
    with RespectlineStack(options, work_dir=work / "stack") as stack:
        print(f"Asterisk SIP: 127.0.0.1:{stack.sip_port} (UDP)")
        for user in ("softphone", "agent1", "care1", "security1"):
            print(f"  account {user} / password {stack.password(user)}")
        print("Numbers: 100 support, 200 billing (call them as 'softphone'; agents register and answer)")
        codes = ", ".join(f"{c.code} {c.label}" for c in stack.bundle.abuse_policy.categories.values())
        print(f"Agents' codes during a call: {codes}")
        print(f"Store: {path}; server log: {stack.server_log}. Ctrl-C stops everything.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopping ...")
    return 0


def _sqlite_file(url: str) -> Path | None:
    try:
        return Path(sqlite_path(url))
    except StoreError as exc:
        print(f"error: --db: {exc}", file=sys.stderr)
        return None
