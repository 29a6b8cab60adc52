"""What the sub-commands share: the ``--config`` option and the validated bundle, and for the report,
case and privacy commands the settings and the store.

The store URL comes from ``store.url`` in the config, or ``--db`` overrides it. With ``--db`` the
config is only consulted for the time zone and the retention periods, so a broken or missing
config does not lock Special Care out of their cases (defaults stand in, and a note says so).
Only ``config/respectline.yaml`` itself is read: a broken flow file is no reason to refuse a report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.settings import Settings, load_settings
from agi_scripts.ground.errors import ConfigError, ValidationFailed
from agi_scripts.reports.moments import BadMoment, parse_moment
from agi_scripts.storage import Store, StoreError, open_store
from agi_scripts.storage.base import is_memory_path, is_postgresql_url, sqlite_path


class CommandError(Exception):
    """A mistake or a failure the user is told about in one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ReportContext:
    settings: Settings
    store_url: str
    config_usable: bool
    """False when ``--db`` stood in for a config that could not be read (defaults are in force)."""

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The existing store, closed afterwards. A missing SQLite file is an error, not a new empty store."""
        _require_existing(self.store_url)
        try:
            opened = open_store(self.store_url)
        except StoreError as exc:
            raise CommandError(f"cannot open the store: {exc}") from None
        try:
            yield opened
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        finally:
            opened.close()


def load_context(config: Path, db: str | None, *, notes: TextIO | None = None) -> ReportContext:
    errors: list[ConfigError] = []
    settings = load_settings(config, errors)
    if errors and db is None:
        details = "\n".join(f"  {error}" for error in errors[:10])
        raise CommandError(f"cannot read the configuration (give --db URL to read a store without it):\n{details}")
    if errors and config.exists():
        print(f"note: {config} has {len(errors)} error(s) (respectline validate lists them); going on with "
              f"--db and time zone {settings.timezone.key}", file=notes or sys.stderr)
    return ReportContext(settings=settings, store_url=db or settings.store_url, config_usable=not errors)


def _require_existing(url: str) -> None:
    if is_postgresql_url(url):
        return  # a missing PostgreSQL database is a connection error from open_store
    try:
        path = sqlite_path(url)
    except StoreError as exc:
        raise CommandError(f"cannot open the store: {exc}") from None
    if not is_memory_path(path) and not Path(path).is_file():
        raise CommandError(f"the store {path} does not exist; check --db or store.url in the configuration")


# ---------------------------------------------------------------- shared by the report and cases commands


def add_store_arguments(parser: argparse.ArgumentParser) -> None:

    add_config_argument(parser)
    parser.add_argument("--db", metavar="URL",
                        help="the store to read, e.g. sqlite:///var/respectline.sqlite (default: store.url of "
                             "the config; with --db a broken config is not needed)")


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command whose mistakes and store failures end in one line on stderr and an exit code, not a traceback."""

    @functools.wraps(run)
    def command(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CommandError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except BadMoment as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            # The reader (head, less) left: not an error. Keep Python from complaining at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0

    return command


def emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def moment_option(text: str | None, context: ReportContext, option: str) -> dt.datetime | None:
    return parse_moment(text, context.settings.timezone, option=option) if text is not None else None


DEFAULT_CONFIG = Path(os.environ.get("RESPECTLINE_CONFIG", "config/respectline.yaml"))


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"Respectline configuration file (default: {DEFAULT_CONFIG}, or $RESPECTLINE_CONFIG)")


def load_bundle_or_report(config: Path, consequence: str) -> Bundle | None:
    """The validated bundle, or ``None`` after printing every error and ``consequence`` to stderr."""
    try:
        return load_bundle(config)
    except ValidationFailed as failed:
        for error in failed.errors:
            print(error, file=sys.stderr)
        count = len(failed.errors)
        print(f"{count} error{'s' if count != 1 else ''}; {consequence}", file=sys.stderr)
        return None
