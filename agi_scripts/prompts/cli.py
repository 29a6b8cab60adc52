"""``respectline prompts build`` and ``respectline prompts install``.

The main CLI mounts these with ``add_prompts_commands(subparsers)``; each leaf parser sets
``func`` to a function taking the parsed ``argparse.Namespace`` and returning the exit code:
0 done, 1 some prompts failed, 2 the request could not be carried out (bad catalog, unknown
language or id, missing program). ``python -m agi_scripts.prompts.cli build ...`` works too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from agi_scripts.config.errors import ConfigError
from agi_scripts.prompts.build import DEFAULT_OUT_DIR, BuildResult, build_prompts, plan_build
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import ENGINE_CHOICES, PromptToolError, choose_engine
from agi_scripts.prompts.hold import DEFAULT_MOH_DIR, build_hold_gaps
from agi_scripts.prompts.install import InstalledFile, install_prompts

DEFAULT_CATALOG = Path("audio_prompts/prompts.yaml")
EXIT_OK, EXIT_SOME_FAILED, EXIT_REFUSED = 0, 1, 2



def add_prompts_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add ``prompts`` with its ``build`` and ``install`` sub-commands; returns the ``prompts`` parser."""
    prompts = subparsers.add_parser(
        "prompts", help="build and install the audio prompts",
        description="Turn audio_prompts/prompts.yaml into telephony audio and install it for Asterisk.")
    add_prompt_actions(prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION"))
    return prompts


def add_prompt_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = actions.add_parser(
        "build", help="synthesise or convert the prompts that changed",
        description="Make <out>/<lang>/<id>.wav (8 kHz mono 16-bit) and .sln16 (16 kHz) for every "
                    "prompt and language; only prompts whose text, voice, recording or settings "
                    "changed since the last build are redone.")
    build.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                       help="gtts (needs the network), espeak (offline) or auto: gTTS when Google "
                            "answers within 3 s, espeak-ng otherwise (default: auto)")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR,
                       help=f"output folder (default: {DEFAULT_OUT_DIR})")
    build.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG,
                       help=f"prompt catalog (default: {DEFAULT_CATALOG})")
    build.add_argument("--lang", action="append", metavar="L",
                       help="only this language; repeat or separate with commas")
    build.add_argument("--only", action="append", metavar="ID",
                       help="only this prompt id; repeat or separate with commas")
    build.add_argument("--force", action="store_true", help="rebuild even what is unchanged")
    build.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                       help="prompts built at once (default: number of cores, at most 4)")
    build.set_defaults(func=run_build)

    install = actions.add_parser(
        "install", help="copy built prompts into Asterisk's sounds folder",
        description="Install <from>/<lang>/<id>.* as <sounds-dir>/respectline/<lang>/<id>.*; each "
                    "changed file is replaced atomically, so no reload is needed and no caller "
                    "hears half a file.")
    install.add_argument("--sounds-dir", type=Path, required=True,
                         help="Asterisk's sounds folder (astdatadir/sounds)")
    install.add_argument("--from", dest="from_dir", type=Path, default=DEFAULT_OUT_DIR,
                         help=f"the build's output folder (default: {DEFAULT_OUT_DIR})")
    install.add_argument("--lang", action="append", metavar="L",
                         help="only this language; repeat or separate with commas")
    install.set_defaults(func=run_install)

    hold = actions.add_parser(
        "hold-music", help="cut hold music to the lengths the campaigns need",
        description="Write <sounds-dir>/respectline/hold/gap-<N>s.wav for every first_after and "
                    "repeat_every in flows/campaigns.yaml, cut from the machine's hold music.")
    hold.add_argument("--sounds-dir", type=Path, required=True, help="Asterisk's sounds folder")
    hold.add_argument("--moh-dir", type=Path, default=DEFAULT_MOH_DIR,
                      help=f"8 kHz mono WAV hold music to cut from (default: {DEFAULT_MOH_DIR})")
    hold.add_argument("--config", type=Path, default=Path("config/respectline.yaml"),
                      help="Respectline configuration (default: %(default)s)")
    hold.set_defaults(func=run_hold_music)


def run_hold_music(args: argparse.Namespace) -> int:
    from agi_scripts.asterisk_conf.generate import hold_gap_lengths
    from agi_scripts.config.bundle import load_bundle
    from agi_scripts.config.errors import ValidationFailed

    try:
        lengths = hold_gap_lengths(load_bundle(args.config))
        written = build_hold_gaps(lengths, args.moh_dir, args.sounds_dir)
    except ValidationFailed as failed:
        print(failed, file=sys.stderr)
        return EXIT_REFUSED
    except PromptToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for path in written:
        print(f"hold music: {path}")
    return EXIT_OK


def run_build(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    catalog = _load_catalog(args.catalog, err)
    if catalog is None:
        return EXIT_REFUSED
    progress = BuildProgress(out)
    languages, only = _split(args.lang), _split(args.only)
    try:
        plan_build(catalog, languages, only)  # refuse a bad --lang/--only before probing the network
        engine = choose_engine(args.engine, say=lambda line: print(line, file=out, flush=True))
        report = build_prompts(catalog, engine, args.out, languages=languages, only=only,
                               force=args.force, jobs=max(1, args.jobs), progress=progress)
    except PromptToolError as exc:
        progress.finish()
        print(f"error: {exc}", file=err)
        return EXIT_REFUSED
    progress.finish()
    for result in report.results:
        if result.status == "failed":
            print(f"error: {result.item.key}: {result.message}", file=err)
    print(report.summary(), file=out)
    return EXIT_OK if report.ok else EXIT_SOME_FAILED


def run_install(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr

    def show(file: InstalledFile) -> None:
        if file.status == "installed":
            print(f"installed {file.target}", file=out)

    try:
        report = install_prompts(args.sounds_dir, args.from_dir, languages=_split(args.lang), progress=show)
    except (PromptToolError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_REFUSED
    print(report.summary(), file=out)
    return EXIT_OK


class BuildProgress:
    """A bar that redraws in place on a terminal; one line per prompt anywhere else (CI logs)."""

    BAR_WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int, result: BuildResult) -> None:
        detail = f"{result.source}, {result.duration_s:.1f} s of audio" if result.status != "failed" else result.message
        if not self.live:
            width = len(str(total))
            print(f"[{done:>{width}}/{total}] {result.status:<9} {result.item.key}  ({detail})",
                  file=self.stream, flush=True)
            return
        if result.status == "failed":
            self._clear()
            print(f"failed    {result.item.key}: {result.message}", file=self.stream)
        filled = self.BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {result.item.key:<40.40}")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.live and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * (self.BAR_WIDTH + 60) + "\r")


def _load_catalog(path: Path, err: TextIO) -> PromptCatalog | None:
    errors: list[ConfigError] = []
    catalog = load_prompt_catalog(path, errors)
    for error in errors:
        print(f"error: {error}", file=err)
    return None if errors else catalog


def _split(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="respectline prompts",
                                     description="Build and install Respectline's audio prompts.")
    add_prompt_actions(parser.add_subparsers(dest="prompts_command", required=True, metavar="ACTION"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
