"""The transcription child: ``python -m agi_scripts.transcribe.child MODEL CPU_THREADS``.

It lowers its own priority, loads the model once and answers one JSON line per request line on
stdin (``{"audio": path, "language": code}``) with ``{"parts": [[start, end, text], ...]}`` or
``{"error": why}``. Its first line says ``{"ready": model}`` or ``{"unavailable": why}``. The worker
starts it, feeds it one file at a time and kills it when a file takes too long.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TextIO

NICENESS = 10
"""Below the server and Asterisk: calls come first on a busy machine."""


def _say(out: TextIO, message: dict[str, object]) -> None:
    out.write(json.dumps(message, ensure_ascii=False) + "\n")
    out.flush()


def serve(model: str, cpu_threads: int, requests: TextIO, out: TextIO) -> int:
    from agi_scripts.transcribe.engine import ModelUnavailable, WhisperEngine

    try:
        os.nice(NICENESS)
    except OSError:
        pass  # already lower, or not allowed: the CPU-thread budget still holds
    try:
        engine = WhisperEngine(model, cpu_threads=cpu_threads)
    except ModelUnavailable as exc:
        _say(out, {"unavailable": str(exc)})
        return 3
    _say(out, {"ready": model})
    for line in requests:
        try:
            request = json.loads(line)
            audio, language = Path(str(request["audio"])), str(request["language"])
        except (ValueError, KeyError, TypeError):
            _say(out, {"error": "bad request line"})
            continue
        try:
            parts = engine.transcribe(audio, language)
        except Exception as exc:  # noqa: BLE001  (one bad file must not end the child)
            _say(out, {"error": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        _say(out, {"parts": [[part.start, part.end, part.text] for part in parts]})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m agi_scripts.transcribe.child MODEL CPU_THREADS", file=sys.stderr)
        return 2
    return serve(args[0], int(args[1]), sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
