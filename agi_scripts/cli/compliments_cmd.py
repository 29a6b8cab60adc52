"""``respectline compliments``: the team lead's review of compliments the screening held, and the
follow-ups low ratings opened.

``review`` lists what no agent may hear yet (held, waiting for a transcript, unscreened); ``review
release ID`` lets the agent hear it on ``*88``; ``review delete ID --reason`` deletes the message (its
file and transcript; the rating stays in the reports). ``follow-ups`` lists the low ratings to look
into; ``follow-ups close ID --note`` ends one. Every change is written to the audit log with ``--by``.
No caller number is shown: the call id leads to it through ``cases`` or ``privacy`` when needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agi_scripts.cli.common import CommandError, add_store_arguments, emit, guarded, load_context
from agi_scripts.policy.screening import delete_message
from agi_scripts.reports.moments import shown_local
from agi_scripts.reports.render import Cell, Column, json_text, safe_text, table
from agi_scripts.storage import NotFound
from agi_scripts.storage.base import Transcript
from agi_scripts.storage.screening import FollowUp, NotDecidable, ScreenedCompliment, ScreeningStore
from agi_scripts.storage.transcripts import TranscriptStore

MAX_SHOWN = 2000
"""Characters of a transcript shown per compliment (a 30 s message says far fewer)."""
CLI_ROLE = "cli"
"""The role written to the audit log for changes made here (the desk writes its users' roles)."""
REVIEW_COLUMNS = (Column("id", "id", numeric=True), Column("at", "when"), Column("agent", "agent"),
                  Column("queue", "queue"), Column("rating", "rating", numeric=True), Column("state", "state"),
                  Column("reason", "why"), Column("recording", "message"), Column("transcript", "words"))
FOLLOW_UP_COLUMNS = (Column("id", "id", numeric=True), Column("at", "when"), Column("agent", "agent"),
                     Column("queue", "queue"), Column("rating", "rating", numeric=True),
                     Column("compliment", "compliment", numeric=True), Column("closed", "closed"),
                     Column("note", "note"))


def register(commands: Any) -> None:
    compliments = commands.add_parser(
        "compliments", help="review held compliments and the follow-ups of low ratings (team lead)",
        description="Compliments the screening held before any agent hears them, and the low ratings to "
                    "follow up. Changes are audited under --by.")
    actions = compliments.add_subparsers(dest="compliments", metavar="ACTION", required=True)

    review = actions.add_parser("review", help="list held compliments; release or delete one",
                                description="Without an action: the compliments no agent may hear yet, "
                                            "oldest first.")
    review.add_argument("--format", choices=("table", "json"), default="table")
    add_store_arguments(review)
    review.set_defaults(func=run_review)
    review_actions = review.add_subparsers(dest="review", metavar="ACTION")
    release = review_actions.add_parser("release", help="let the agent hear it on the compliments line")
    _id_argument(release, "the compliment's id (see the list)")
    _by_argument(release)
    _store_options(release)
    release.set_defaults(func=run_release)
    delete = review_actions.add_parser("delete", help="delete the message with a reason (the rating stays)")
    _id_argument(delete, "the compliment's id (see the list)")
    _by_argument(delete)
    delete.add_argument("--reason", required=True, type=_text, metavar="TEXT",
                        help="why, e.g. 'insults the agent'")
    _store_options(delete)
    delete.set_defaults(func=run_delete)

    follow_ups = actions.add_parser("follow-ups", help="low ratings to look into; close one with a note",
                                    description="Without an action: the open follow-ups, oldest first.")
    follow_ups.add_argument("--all", action="store_true", help="closed ones too")
    follow_ups.add_argument("--format", choices=("table", "json"), default="table")
    add_store_arguments(follow_ups)
    follow_ups.set_defaults(func=run_follow_ups)
    follow_up_actions = follow_ups.add_subparsers(dest="follow_up", metavar="ACTION")
    close = follow_up_actions.add_parser("close", help="done with it: say what was done")
    _id_argument(close, "the follow-up's id (see the list)")
    _by_argument(close)
    close.add_argument("--note", required=True, type=_text, metavar="TEXT",
                       help="what was done, e.g. 'called the customer back'")
    _store_options(close)
    close.set_defaults(func=run_close)


def _store_options(parser: argparse.ArgumentParser) -> None:
    """--config and --db after the action too; given before it (``review --db URL release 3``) they still
    count: argparse would otherwise let the action's own defaults overwrite them."""
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="Respectline configuration file")
    parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="the store (default: store.url of the config)")


def _id_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("id", type=_positive, metavar="ID", help=help_text)


def _by_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", required=True, type=_name, metavar="NAME", help="who decides (audited)")


def _positive(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"an id is a positive whole number, not {text!r}")
    return int(text)


def _name(text: str) -> str:
    name = " ".join(text.split())
    if not name or len(name) > 100 or not name.isprintable():
        raise argparse.ArgumentTypeError("a name is 1 to 100 printable characters")
    return name


def _text(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise argparse.ArgumentTypeError("the text cannot be empty")
    if len(cleaned) > 500:
        raise argparse.ArgumentTypeError("at most 500 characters")
    return cleaned


# ---------------------------------------------------------------- the review list


@guarded
def run_review(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    tz = context.settings.timezone
    with context.store() as store:
        waiting = ScreeningStore(store).review_list()
        # What the transcription worker heard, so the team lead need not listen first.
        transcripts = TranscriptStore(store).of_recordings(found.compliment.recording for found in waiting)
    rows = [_review_row(found, tz, transcripts) for found in waiting]
    if args.format == "json":
        emit(json_text(rows))  # type: ignore[arg-type]
    else:
        emit(table(REVIEW_COLUMNS, rows, empty="no compliment waits for review"))
    return 0


def _review_row(found: ScreenedCompliment, tz: Any, transcripts: dict[str, Transcript]) -> dict[str, Cell]:
    compliment = found.compliment
    transcript = transcripts.get(compliment.recording or "")
    words = transcript.text if transcript is not None and transcript.status == "done" else ""
    return {"transcript": safe_text(words[:MAX_SHOWN]), **{"id": compliment.id, "at": shown_local(compliment.created_at, tz), "agent": safe_text(compliment.agent),
            "queue": safe_text(compliment.queue), "rating": compliment.rating, "state": found.screening,
            "reason": safe_text(found.reason), "recording": safe_text(compliment.recording or ""),
            "call_id": compliment.call_id}}


@guarded
def run_release(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store:
        try:
            found = ScreeningStore(store).release(args.id, by=args.by, role=CLI_ROLE)
        except NotFound:
            raise CommandError(f"compliment {args.id} does not exist") from None
        except NotDecidable as error:
            raise CommandError(str(error)) from None
    emit(f"compliment {found.id} released: {safe_text(found.compliment.agent)} hears it on the compliments line\n")
    return 0


@guarded
def run_delete(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store:
        try:
            found, problem = delete_message(store, args.id, by=args.by, role=CLI_ROLE, reason=args.reason,
                                            recordings_dir=context.settings.recordings_dir)
        except NotFound:
            raise CommandError(f"compliment {args.id} does not exist") from None
        except NotDecidable as error:
            raise CommandError(str(error)) from None
    emit(f"compliment {found.id} deleted; its rating still counts in the reports\n")
    if problem:
        raise CommandError(f"its recording could not be deleted: {problem}")
    return 0


# ---------------------------------------------------------------- follow-ups


@guarded
def run_follow_ups(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    tz = context.settings.timezone
    with context.store() as store:
        found = ScreeningStore(store).follow_ups(include_closed=args.all)
    rows = [_follow_up_row(follow_up, tz) for follow_up in found]
    if args.format == "json":
        emit(json_text(rows))  # type: ignore[arg-type]
    else:
        emit(table(FOLLOW_UP_COLUMNS, rows, empty="no follow-up"))
    return 0


def _follow_up_row(follow_up: FollowUp, tz: Any) -> dict[str, Cell]:
    return {"id": follow_up.id, "at": shown_local(follow_up.created_at, tz), "agent": safe_text(follow_up.agent),
            "queue": safe_text(follow_up.queue), "rating": follow_up.rating, "compliment": follow_up.compliment_id,
            "closed": shown_local(follow_up.closed_at, tz) if follow_up.closed_at else "",
            "note": safe_text(" ".join(filter(None, (follow_up.closed_by, follow_up.note))))}


@guarded
def run_close(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store:
        try:
            closed = ScreeningStore(store).close_follow_up(args.id, by=args.by, role=CLI_ROLE, note=args.note)
        except NotFound:
            raise CommandError(f"follow-up {args.id} does not exist") from None
    emit(f"follow-up {closed.id} closed\n")
    return 0
