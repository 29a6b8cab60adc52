"""``respectline desk`` as its own process for the browser tests, and how they launch Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from tests.support.config_tree import PROJECT

CHROMIUM = os.environ.get("RESPECTLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
"""Without the background-networking flags Chromium keeps trying to reach outside hosts; the autoplay
policy lets a test start an audio element from a script as a click would."""


class DeskProcess:
    """``respectline desk --listen 127.0.0.1:0`` on a store and config; ``url`` once it answers."""

    def __init__(self, config: Path, db_url: str, log: Path, *, recordings: tuple[Path, ...] = ()) -> None:
        self.argv = [sys.executable, "-m", "agi_scripts.cli.main", "desk", "--listen", "127.0.0.1:0",
                     "--config", str(config), "--db", db_url]
        for folder in recordings:
            self.argv += ["--recordings", str(folder)]
        self.log = log
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> DeskProcess:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log, cwd=PROJECT,
                                             start_new_session=True)
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._process.stdout.readline().decode()
            if line.startswith("listening on "):
                self.url = line.split()[-1]
                return self
            if not line and self._process.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"respectline desk did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self, timeout: float = 10.0) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()

    def __enter__(self) -> DeskProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
