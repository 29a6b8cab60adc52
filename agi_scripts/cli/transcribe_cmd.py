"""``respectline transcribe``: transcribe the recordings that wait, once or following the store; and
the transcription worker ``respectline serve`` runs in the background.

The worker lives in ``serve`` (one process to run and watch, the store and config it already has;
the model itself runs in a niced child process, so calls and the event loop never wait for it).
``transcribe --once`` does the same work by hand and exits (after an outage, or for the demo);
``transcribe --follow`` runs the worker alone, for a site that wants the model on another machine
than the FastAGI server (both may run: a recording is saved once).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.transcription_settings import TranscriptionSettings
from agi_scripts.flows.screening import ScreeningRules
from agi_scripts.policy.screening import ComplimentScreener
from agi_scripts.storage import Store, StoreError, open_store
from agi_scripts.transcribe.worker import ChildTranscriber, TranscriptionWorker, WorkerLimits

LOG = logging.getLogger("respectline.transcribe")


def register(commands: Any) -> None:
    from agi_scripts.cli.common import add_config_argument

    parser = commands.add_parser("transcribe", help="transcribe evidence and spoken compliments that wait",
                                 description="Transcribe the recordings without a transcript with the model "
                                             "of transcription.model (respectline serve does this by itself).")
    add_config_argument(parser)
    parser.add_argument("--db", metavar="URL", help="overrides store.url")
    parser.add_argument("--model", metavar="FOLDER_OR_NAME", help="overrides transcription.model")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="transcribe what waits now, then exit (the default)")
    mode.add_argument("--follow", action="store_true", help="keep transcribing new recordings until Ctrl-C")
    parser.set_defaults(func=run_transcribe)


def limits_of(settings: TranscriptionSettings) -> WorkerLimits:
    return WorkerLimits(queue_size=settings.queue_size, max_seconds=settings.max_seconds,
                        max_bytes=settings.max_megabytes * 1024 * 1024, settle_seconds=settings.settle_seconds)


class CurrentScreeningRules:
    """The compliment screening rules of the files as they are now (the last good ones when the files
    do not load), for a transcript that arrives long after the server started."""

    def __init__(self, config: Path, bundle: Bundle) -> None:
        self.config = config
        self.bundle = bundle

    def __call__(self) -> ScreeningRules:
        try:
            self.bundle = load_bundle(self.config)
        except Exception as exc:  # noqa: BLE001  (a broken file keeps the last good rules, as a reload does)
            LOG.warning("transcripts: the config does not load (%s); screening with the last good rules", exc)
        return self.bundle.post_call.screening


def transcription_worker(config: Path, bundle: Bundle, store: Store, *, model: str | None = None,
                         screen_compliments: bool = True) -> TranscriptionWorker | None:
    """The worker for this config, not started; None (and a log line) when transcription is off."""
    settings = bundle.settings.transcription
    model = model or settings.model
    if model is None:
        LOG.info("transcripts are off (no transcription.model in the config)")
        return None
    screener = ComplimentScreener(store, CurrentScreeningRules(config, bundle)) if screen_compliments else None
    threads = settings.cpu_threads
    LOG.info("transcripts with model %s (%d CPU thread(s), files up to %.0f s)", model, threads,
             settings.max_seconds)
    return TranscriptionWorker(
        store, lambda: ChildTranscriber(model, cpu_threads=threads), bundle.settings.recordings_dir,
        default_language=bundle.settings.language.default, limits=limits_of(settings),
        on_compliment_transcript=screener.on_compliment_transcript if screener else None)


def start_transcription(config: Path, bundle: Bundle, store: Store) -> TranscriptionWorker | None:
    """``serve``'s worker, started; stop it when the server stops."""
    worker = transcription_worker(config, bundle, store)
    if worker is not None:
        worker.start()
    return worker


def run_transcribe(args: argparse.Namespace) -> int:
    from agi_scripts.cli.common import load_bundle_or_report

    bundle = load_bundle_or_report(args.config, "nothing was transcribed")
    if bundle is None:
        return 1
    logging.basicConfig(level=bundle.settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        store = open_store(args.db or bundle.settings.store_url)
    except StoreError as exc:
        print(f"error: cannot open the store: {exc}", file=sys.stderr)
        return 1
    try:
        model = str(Path(args.model).resolve()) if args.model and Path(args.model).is_dir() else args.model
        worker = transcription_worker(args.config, bundle, store, model=model)
        if worker is None:
            print("error: no model: set transcription.model in the config or give --model", file=sys.stderr)
            return 2
        if args.follow:
            return _follow(worker)
        saved = _once(worker)
        if worker.model_problem is not None:
            print(f"error: the speech model is unavailable: {worker.model_problem}", file=sys.stderr)
            return 1
        print(f"{saved} recording(s) transcribed", flush=True)
        return 0
    finally:
        store.close()


def _once(worker: TranscriptionWorker) -> int:
    """Rounds until one saves nothing (each round takes at most ``queue_size`` recordings)."""
    saved = 0
    try:
        while (done := worker.run_round()) > 0:
            saved += done
    finally:
        worker.stop()
    return saved


def _follow(worker: TranscriptionWorker) -> int:
    worker.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    return 0
