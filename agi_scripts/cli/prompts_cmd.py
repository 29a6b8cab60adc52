"""``respectline prompts build|install|hold-music``: the audio prompts, from the configuration's paths.

Every path comes from ``--config`` (``paths.prompts``, ``paths.built_prompts``, ``paths.sounds``),
never from the current folder, so the commands work from anywhere. ``paths.sounds`` is the one
sounds setting: the prompts and the hold music are installed there, and the generated hold-music
classes play from there. Exit codes: 0 done, 1 some prompts failed, 2 the request could not be
carried out (bad config or catalog, unknown language or id, missing program).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from agi_scripts.cli.common import add_config_argument, load_bundle_or_report
from agi_scripts.config.settings import Settings, load_settings
from agi_scripts.ground.errors import ConfigError
from agi_scripts.prompts.build import BuildResult, build_prompts, plan_build
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import ENGINE_CHOICES, PromptToolError, choose_engine
from agi_scripts.prompts.hold import DEFAULT_MOH_DIR, build_hold_gaps
from agi_scripts.prompts.install import InstalledFile, install_prompts

EXIT_OK, EXIT_SOME_FAILED, EXIT_REFUSED = 0, 1, 2


def register(commands: Any) -> None:
    prompts = commands.add_parser(
        "prompts", help="build and install the audio prompts",
        description="Turn the prompt catalog (paths.prompts) into telephony audio and install it into "
                    "Asterisk's sounds folder (paths.sounds).")
    add_prompt_actions(prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION"))


def add_prompt_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = actions.add_parser(
        "build", help="synthesise or convert the prompts that changed",
        description="Make <paths.built_prompts>/<lang>/<id>.wav (8 kHz mono 16-bit) and .sln16 (16 kHz) for "
                    "every prompt and language; only prompts whose text, voice, recording or settings "
                    "changed since the last build are redone.")
    add_config_argument(build)
    build.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                       help="gtts (needs the network), espeak (offline) or auto: gTTS when Google "
                            "answers within 3 s, espeak-ng otherwise (default: auto)")
    build.add_argument("--out", type=Path, default=None,
                       help="output folder (default: the config's paths.built_prompts)")
    build.add_argument("--catalog", type=Path, default=None,
                       help="prompt catalog (default: the config's paths.prompts)")
    build.add_argument("--lang", action="append", metavar="L",
                       help="only this language; repeat or separate with commas")
    build.add_argument("--only", action="append", metavar="ID",
                       help="only this prompt id; repeat or separate with commas")
    build.add_argument("--force", action="store_true", help="rebuild even what is unchanged")
    build.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                       help="prompts built at once (default: number of cores, at most 4)")
    build.set_defaults(func=run_build)

    install = actions.add_parser(
        "install", help="copy built prompts into Asterisk's sounds folder (paths.sounds)",
        description="Install <paths.built_prompts>/<lang>/<id>.* as <paths.sounds>/respectline/<lang>/<id>.*; "
                    "each changed file is replaced atomically, so no reload is needed and no caller "
                    "hears half a file.")
    add_config_argument(install)
    install.add_argument("--sounds-dir", type=Path, default=None,
                         help="must equal the config's paths.sounds when given (a check, not an override)")
    install.add_argument("--from", dest="from_dir", type=Path, default=None,
                         help="the build's output folder (default: the config's paths.built_prompts)")
    install.add_argument("--lang", action="append", metavar="L",
                         help="only this language; repeat or separate with commas")
    install.set_defaults(func=run_install)

    hold = actions.add_parser(
        "hold-music", help="cut hold music to the lengths the campaigns need",
        description="Write <paths.sounds>/respectline/hold/gap-<N>s.wav for every first_after and "
                    "repeat_every in flows/campaigns.yaml, cut from the machine's hold music.")
    add_config_argument(hold)
    hold.add_argument("--sounds-dir", type=Path, default=None,
                      help="must equal the config's paths.sounds when given (a check, not an override)")
    hold.add_argument("--moh-dir", type=Path, default=DEFAULT_MOH_DIR,
                      help=f"8 kHz mono WAV hold music to cut from (default: {DEFAULT_MOH_DIR})")
    hold.set_defaults(func=run_hold_music)


def run_hold_music(args: argparse.Namespace) -> int:
    from agi_scripts.asterisk_conf.generate import hold_gap_lengths

    bundle = load_bundle_or_report(args.config, "no hold music was written")
    if bundle is None:
        return EXIT_REFUSED
    sounds_dir = _sounds_dir(bundle.settings, args.sounds_dir, sys.stderr)
    if sounds_dir is None:
        return EXIT_REFUSED
    try:
        written = build_hold_gaps(hold_gap_lengths(bundle), args.moh_dir, sounds_dir)
    except PromptToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for path in written:
        print(f"hold music: {path}")
    return EXIT_OK


def run_build(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    catalog_file: Path | None = args.catalog
    out_dir: Path | None = args.out
    if catalog_file is None or out_dir is None:  # the config fills in what the command line left out
        settings = _settings(args.config, err)
        if settings is None:
            return EXIT_REFUSED
        catalog_file, out_dir = catalog_file or settings.prompts_file, out_dir or settings.built_prompts_dir
    catalog = _load_catalog(catalog_file, err)
    if catalog is None:
        return EXIT_REFUSED
    progress = BuildProgress(out)
    languages, only = _split(args.lang), _split(args.only)
    try:
        plan_build(catalog, languages, only)  # refuse a bad --lang/--only before probing the network
        engine = choose_engine(args.engine, say=lambda line: print(line, file=out, flush=True))
        report = build_prompts(catalog, engine, out_dir, languages=languages, only=only,
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
    settings = _settings(args.config, err)
    if settings is None:
        return EXIT_REFUSED
    sounds_dir = _sounds_dir(settings, args.sounds_dir, err)
    if sounds_dir is None:
        return EXIT_REFUSED

    def show(file: InstalledFile) -> None:
        if file.status == "installed":
            print(f"installed {file.target}", file=out)

    try:
        report = install_prompts(sounds_dir, args.from_dir or settings.built_prompts_dir,
                                 languages=_split(args.lang), progress=show)
    except (PromptToolError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_REFUSED
    print(report.summary(), file=out)
    return EXIT_OK


def _settings(config: Path, err: TextIO) -> Settings | None:
    errors: list[ConfigError] = []
    settings = load_settings(config, errors)
    for error in errors:
        print(f"error: {error}", file=err)
    if errors:
        print("the prompts' folders come from the configuration: pass --config FILE (or set "
              "$RESPECTLINE_CONFIG) when not running from the project's folder", file=err)
        return None
    return settings


def _sounds_dir(settings: Settings, given: Path | None, err: TextIO) -> Path | None:
    """``paths.sounds``; a ``--sounds-dir`` that names another folder is refused, because the generated
    hold-music classes play from ``paths.sounds`` and callers would hear silence."""
    configured = settings.sounds_dir
    if given is not None and given.resolve() != configured.resolve():
        print(f"error: --sounds-dir {given} is not paths.sounds ({configured}) of {settings.file}: the "
              "hold-music classes Asterisk plays name files under paths.sounds, so callers would hear "
              f"silence. Set `paths: {{sounds: {given.resolve()}}}` in {settings.file} and run "
              "`respectline asterisk-conf` again, or leave --sounds-dir out.", file=err)
        return None
    return configured


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
