"""``respectline serve`` (the FastAGI server) and ``respectline agi SCRIPT`` (classic AGI from agi-bin)."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.settings import Settings, restart_required
from agi_scripts.ground.errors import ConfigError, ValidationFailed
from agi_scripts.notify import EmailNotifier, LadderMail, MailQueue
from agi_scripts.policy.appreciation import AppreciationWorker
from agi_scripts.policy.checkin_summary import SummaryMaker
from agi_scripts.policy.checkins import CheckInKeeper
from agi_scripts.policy.pauses import PauseKeeper
from agi_scripts.policy.presence import PresenceAnnouncer
from agi_scripts.privacy.spool_sweeper import SpoolSweeper, live_calls_over_ami, no_live_calls_answer
from agi_scripts.privacy.sweeper import RetentionSweeper
from agi_scripts.server.options import parse_listen
from agi_scripts.storage import Store, StoreError, open_store
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.checkins import CheckInBook
from agi_scripts.storage.outbox import Outbox

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(commands: Any) -> None:
    from agi_scripts.cli.common import add_config_argument

    serve = commands.add_parser("serve", help="run the FastAGI server",
                                description="Serve the AGI scripts screen, post_call and flag to Asterisk. "
                                            "SIGHUP or a changed flow file reloads; SIGTERM drains calls.")
    add_config_argument(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", help="overrides server.listen (port 0: any free port)")
    serve.add_argument("--db", metavar="URL", help="overrides store.url, e.g. sqlite:///var/respectline.sqlite or "
                            "postgresql://respectline:SECRET@db.example.org/respectline")
    serve.set_defaults(func=run_serve)

    agi = commands.add_parser("agi", help="run one AGI script as classic AGI (from agi-bin, stdin/stdout)",
                              description="For Asterisk's AGI(respectline-agi,SCRIPT,...) from agi-bin; "
                                          "the FastAGI server is the faster way.")
    add_config_argument(agi)
    agi.add_argument("script", help="screen, post_call or flag (a query such as flag?category=threat is allowed)")
    agi.add_argument("--db", metavar="URL", help="overrides store.url")
    agi.set_defaults(func=run_agi)


def run_serve(args: argparse.Namespace) -> int:
    from agi_scripts.handlers import ROUTES
    from agi_scripts.handlers.context import Services
    from agi_scripts.cli.transcribe_cmd import start_transcription
    from agi_scripts.server.app import serve

    bundle = _first_bundle(args.config)
    if bundle is None:
        return 1
    _configure_logging(bundle)
    for warning in bundle.warnings:
        logging.getLogger("respectline").warning("config: %s", warning)
    options = bundle.settings.server
    if args.listen:
        try:
            host, port = parse_listen(args.listen)
        except ValueError as exc:
            print(f"error: --listen: {exc}", file=sys.stderr)
            return 2
        options = replace(options, host=host, port=port)
    store = _open_store(args.db or bundle.settings.store_url)
    if store is None:
        return 1
    config = args.config

    def announce(running: Any) -> None:
        logging.getLogger("respectline").info("listening on %s:%d (config %s)", options.host, running.port, config)
        print(f"listening on {options.host}:{running.port}", flush=True)

    # One mail queue for the server's life; each call mails under its own bundle's settings.
    mail = MailQueue()
    outbox = Outbox(bundle.settings.spool_dir)
    keeper = _start_pause_keeper(bundle, store, outbox, mail)
    # Aftercare: rings the people on duty for the check-ins flags and agents ask for (off without AMI).
    check_ins = _start_check_in_keeper(bundle, store)
    # Thank-you rounds (flows/appreciation.yaml): agents rung between calls, on a thread of their own.
    appreciation = _start_appreciation(config, bundle, store)
    # Retention periods and the recordings folder as at start; a change to them needs a restart.
    sweeper = RetentionSweeper(store, bundle.settings.recordings_dir, bundle.settings.retention)
    sweeper.start()
    # The spools of calls recorded from the agent's answer that a crash left (grace as at start).
    spools = SpoolSweeper(bundle.settings.recordings_dir, bundle.abuse_policy.spool_grace,
                          live_calls_over_ami(bundle.settings.ami) if bundle.settings.ami.enabled
                          else no_live_calls_answer)
    spools.start()
    # The desk's configuration view learns from this which files each server runs on.
    presence = PresenceAnnouncer(store, bundle.watched_files())
    presence.start()
    _log_email_settings(bundle)
    # Transcripts of evidence and spoken compliments, in the background (off without transcription.model).
    transcription = start_transcription(config, bundle, store)
    def reload() -> Bundle:
        fresh = reload_bundle(config, bundle.settings)
        presence.loaded(fresh.watched_files())
        check_ins.reloaded(fresh.abuse_policy)
        return fresh

    try:
        return serve(reload, routes=ROUTES,
                     services=Services.offloaded(store, mail=mail, outbox=outbox), options=options, ready=announce)
    finally:
        keeper.stop()  # first: a late booking may still mail
        check_ins.stop()
        appreciation.stop()  # unpauses the agents it was ringing
        mail.close(timeout=5.0)
        sweeper.stop()
        if transcription is not None:
            transcription.stop()
        spools.stop()
        presence.stop()
        store.close()


def reload_bundle(config: Path, running: Settings) -> Bundle:
    """The files as they are now, for a reload; refused (the last good version stays) when a key
    the server read at start changed, rather than reporting success and silently keeping the old value."""
    fresh = load_bundle(config)
    changed = restart_required(running, fresh.settings)
    if changed:
        raise ValidationFailed([
            ConfigError(config, _line_of(config, key), 1, f"{key} changed: the running server applies it only "
                        "when restarted", "restart the server (systemctl restart respectline), or put the "
                        "old value back to reload the rest")
            for key in changed])
    return fresh


def _line_of(config: Path, key: str) -> int:
    """The line of ``key``'s last part (``paths.recordings`` -> ``recordings:``), or 1."""
    leaf = key.rsplit(".", 1)[-1] + ":"
    try:
        lines = config.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    return next((n for n, line in enumerate(lines, 1) if line.strip().startswith(leaf)), 1)


def run_agi(args: argparse.Namespace) -> int:
    from agi_scripts.server.classic import run_classic_agi

    bundle = _first_bundle(args.config)
    if bundle is None:
        return 1
    store = _open_store(args.db or bundle.settings.store_url)
    if store is None:
        return 1
    from agi_scripts.handlers import ROUTES
    from agi_scripts.handlers.context import Services

    try:
        return run_classic_agi(args.script, sys.stdin, sys.stdout, routes=ROUTES, load_bundle=lambda: bundle,
                               services=Services(store=store))
    finally:
        store.close()


def _start_pause_keeper(bundle: Bundle, store: Store, outbox: Outbox, mail: MailQueue) -> PauseKeeper:
    """Books the outbox and lifts due pauses; without AMI it still books (nothing can lift a pause)."""
    if not bundle.settings.ami.enabled:
        logging.getLogger("respectline").warning(
            "AMI is not configured (ami.username): agents' recovery pauses will not end by themselves")
    notifier = LadderMail(EmailNotifier(bundle.settings.notifications.email, mail, bundle))
    keeper = PauseKeeper(store, bundle.settings.ami, outbox=outbox, notifier=notifier)
    keeper.start()
    return keeper


def _start_appreciation(config: Path, bundle: Bundle, store: Store) -> AppreciationWorker:
    if bundle.appreciation.rounds and not bundle.settings.ami.enabled:
        logging.getLogger("respectline").warning(
            "AMI is not configured (ami.username): thank-you rounds reach nobody")
    worker = AppreciationWorker(store, bundle.settings.ami, bundle, config=config)
    worker.start()
    return worker


def _start_check_in_keeper(bundle: Bundle, store: Store) -> CheckInKeeper:
    settings = bundle.settings
    summaries = SummaryMaker(settings.recordings_dir, settings.agents, settings.queues,
                             CheckInBook(store).pause_minutes_of, utc_now)
    keeper = CheckInKeeper(store, settings.ami, bundle.abuse_policy, timezone=settings.timezone,
                           default_language=settings.language.default, languages=bundle.languages(),
                           summaries=summaries)
    if bundle.abuse_policy.aftercare.rosters and not settings.ami.enabled:
        logging.getLogger("respectline").warning(
            "AMI is not configured (ami.username): aftercare check-ins are booked but nobody is rung")
    keeper.start()
    return keeper


def _log_email_settings(bundle: Bundle) -> None:
    email = bundle.settings.notifications.email
    log = logging.getLogger("respectline")
    if email is None:
        log.info("e-mail notifications are off (no notifications.email in the config)")
    else:
        log.info("e-mail notifications through %s:%d (starttls %s) to %d team(s) and %d supervisor address(es)",
                 email.smtp.host, email.smtp.port, "on" if email.smtp.starttls else "off", len(email.teams),
                 len(email.supervisors))


def _first_bundle(config: Path) -> Bundle | None:
    from agi_scripts.cli.common import load_bundle_or_report

    return load_bundle_or_report(config, "the server did not start")


def _open_store(url: str) -> Store | None:
    try:
        return open_store(url)
    except StoreError as exc:
        print(f"error: cannot open the store: {exc}", file=sys.stderr)
        return None


def _configure_logging(bundle: Bundle) -> None:
    logging.basicConfig(level=bundle.settings.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)
