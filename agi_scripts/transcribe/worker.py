"""The transcription worker: each new evidence recording and spoken compliment, transcribed in the
call's language, one file at a time, in a child process at low priority.

Bounds: each round takes at most ``queue_size`` recordings from the store; a file larger than
``max_bytes`` or longer than ``max_seconds`` is not transcribed (its transcript says so); the child
gets ``cpu_threads`` threads, runs niced and is killed when a file takes longer than its time. A
recording still being written (changed in the last ``settle_seconds``) waits for a later round. A
model that cannot be loaded is logged once and tried again after ``retry_seconds``: calls never wait
for any of this, and nothing here runs on the server's event loop (the worker is a thread, the
model a process).

Evidence in two directions: beside ``<call id>.wav`` (mixed) may lie ``<call id>-caller.wav`` and
``<call id>-agent.wav`` (recorded from connect); each direction is transcribed with its speaker, else
the mixed file with speaker ``unknown``. A spoken compliment is the caller's.

After a compliment's transcript is saved, ``on_compliment_transcript(compliment_id, text, language)``
is called (``respectline serve`` hands the compliment screener's); only for a transcript made, not
for a file skipped: such a compliment stays waiting for the team lead's review.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from agi_scripts.storage.base import Store, StoreError, TranscriptSegment, utc_now
from agi_scripts.storage.transcripts import TranscriptJob, TranscriptStore, new_transcript
from agi_scripts.transcribe.engine import ModelUnavailable, SpokenPart

LOG = logging.getLogger("respectline.transcribe")

ComplimentTranscriptCallback = Callable[[int, str, str], None]
"""``on_compliment_transcript(compliment_id, text, language)``: a compliment's words are in the store."""


def no_callback(compliment_id: int, text: str, language: str) -> None:
    """The callback when none is given: nothing waits for compliments' words."""


class FileNotTranscribed(Exception):
    """This file could not be transcribed (unreadable audio, too slow, the child died on it)."""


class Transcriber(Protocol):
    model: str

    def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
        """ModelUnavailable when no model can be had; FileNotTranscribed for this file's own failure."""
        ...

    def close(self) -> None: ...

    def interrupt(self) -> None:
        """From another thread: end the file in progress at once (the server is stopping)."""
        ...


@dataclass(frozen=True)
class WorkerLimits:
    queue_size: int = 20
    """Recordings taken from the store per round."""
    max_seconds: float = 900.0
    """Longer recordings are not transcribed (their transcript says so)."""
    max_bytes: int = 64 * 1024 * 1024
    """Larger files are not read at all."""
    settle_seconds: float = 20.0
    """A file changed more recently is still being written (MixMonitor): it waits."""
    missing_grace_seconds: float = 600.0
    """A recording whose file is still missing this long after its case or compliment is given up."""
    poll_seconds: float = 10.0
    retry_seconds: float = 300.0
    """After the model could not be loaded."""
    idle_seconds: float = 600.0
    """The child (and its memory) goes after this long without work; the next file starts it again."""

    def timeout_for(self, seconds_of_audio: float) -> float:
        """How long the child may take on one file: loading plus twice real time (it runs at ~0.2x)."""
        return 120.0 + 2.0 * seconds_of_audio


class ChildTranscriber:
    """The model in a child process (``agi_scripts.transcribe.child``), started on first use."""

    def __init__(self, model: str, *, cpu_threads: int, start_timeout: float = 180.0,
                 python: str = sys.executable) -> None:
        self.model_ref = model
        self.model = Path(model).name if Path(model).is_absolute() else model
        """What transcripts name: a folder's name (a path of the server says nothing in a police report)."""
        self.cpu_threads = cpu_threads
        self.start_timeout = start_timeout
        self.python = python
        self._child: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
        child = self._started()
        request = json.dumps({"audio": str(audio), "language": language}) + "\n"
        try:
            assert child.stdin is not None
            child.stdin.write(request.encode("utf-8"))
            child.stdin.flush()
            answer = self._read_line(child, timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise FileNotTranscribed(f"the transcriber gave no answer within {timeout:.0f} s"
                                     if isinstance(exc, TimeoutError) else f"the transcriber ended ({exc})") from exc
        if "parts" in answer and isinstance(answer["parts"], list):
            return [SpokenPart(float(start), float(end), str(text)) for start, end, text in answer["parts"]]
        raise FileNotTranscribed(str(answer.get("error", "no answer"))[:300])

    def interrupt(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            self._kill(child)  # the reading thread sees the end of its output and gives up the file

    def close(self) -> None:
        child, self._child, self._buffer = self._child, None, b""
        if child is None:
            return
        for stream in (child.stdin, child.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)

    def _started(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self.close()
        env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(self.cpu_threads))
        self._child = subprocess.Popen(
            [self.python, "-m", "agi_scripts.transcribe.child", self.model_ref, str(self.cpu_threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True)  # a signal to the server's group does not reach it mid-file
        try:
            hello = self._read_line(self._child, self.start_timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ModelUnavailable(f"the transcriber did not start ({exc or 'no answer'})") from exc
        if "ready" not in hello:
            self.close()
            raise ModelUnavailable(str(hello.get("unavailable", hello))[:500])
        return self._child

    def _read_line(self, child: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
        assert child.stdout is not None
        fd = child.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(child)
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise OSError("the transcriber ended")
                self._buffer += chunk
                if len(self._buffer) > 16 * 1024 * 1024:
                    self._kill(child)
                    raise OSError("the transcriber's answer is too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError as exc:
            raise OSError("the transcriber's answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise OSError("the transcriber's answer is not an object")
        return answer

    @staticmethod
    def _kill(child: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            child.kill()


@dataclass(frozen=True)
class AudioSource:
    speaker: str
    path: Path


def sources_of(job: TranscriptJob) -> list[AudioSource]:
    """The files to transcribe for a job, each with its speaker (see the module's docstring)."""
    mixed = Path(job.recording)
    if job.kind == "compliment":
        return [AudioSource("caller", mixed)]
    stem = mixed.name[:-len(mixed.suffix)] if mixed.suffix else mixed.name
    directions = [AudioSource(speaker, mixed.with_name(f"{stem}-{speaker}{mixed.suffix or '.wav'}"))
                  for speaker in ("caller", "agent")]
    if all(os.path.lexists(source.path) for source in directions):
        return directions
    return [AudioSource("unknown", mixed)]


class NotYet(Exception):
    """The file is still being written, or not there yet: a later round tries again."""


class Skip(Exception):
    """The file will not be transcribed; the message is the transcript's note."""


def private_copy(source: Path, recordings_dir: Path, target: Path, limits: WorkerLimits, now: float) -> float:
    """Copy a recording to ``target`` for the child, safely; its length in seconds (0 when not WAV).

    The path must lie in the recordings folder; the file is opened without following a link and
    without blocking on a FIFO, and must be a regular file under ``max_bytes``."""
    try:
        source.resolve().relative_to(recordings_dir.resolve())
    except (ValueError, OSError):
        raise Skip(f"{source} is not inside the recordings folder") from None
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotYet(f"{source} is not there") from None
    except OSError as exc:
        raise Skip(f"{source} cannot be opened ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Skip(f"{source} is not a regular file")
        if now - info.st_mtime < limits.settle_seconds:
            raise NotYet(f"{source} is still being written")
        if info.st_size > limits.max_bytes:
            raise Skip(f"larger than {limits.max_bytes // (1024 * 1024)} MB")
        with open(target, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            shutil.copyfileobj(file, out, 1024 * 1024)
    try:
        with wave.open(str(target), "rb") as wav:
            seconds = wav.getnframes() / float(wav.getframerate() or 1)
    except (wave.Error, EOFError):
        return 0.0  # not WAV: the child decodes it (or says it cannot)
    if seconds > limits.max_seconds:
        raise Skip(f"longer than {limits.max_seconds:.0f} s ({seconds:.0f} s)")
    return seconds


class TranscriptionWorker:
    """Finds recordings without a transcript and has them transcribed (see the module's docstring)."""

    def __init__(self, store: Store, transcriber: Callable[[], Transcriber], recordings_dir: Path, *,
                 default_language: str, limits: WorkerLimits = WorkerLimits(),
                 on_compliment_transcript: ComplimentTranscriptCallback | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.transcripts = TranscriptStore(store)
        self.make_transcriber = transcriber
        self.recordings_dir = recordings_dir
        self.default_language = default_language
        self.limits = limits
        self.on_compliment_transcript = on_compliment_transcript or no_callback
        self.clock = clock
        self._transcriber: Transcriber | None = None
        self._model_problem: str | None = None
        self._retry_at = 0.0
        self._store_down = False
        self._last_work = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-transcribe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop within seconds, also in the middle of a file (it is transcribed again next time)."""
        self._stop.set()
        transcriber = self._transcriber
        if transcriber is not None:
            transcriber.interrupt()
        if self._thread.is_alive():
            self._thread.join(30)
        self._close_transcriber()

    @property
    def model_problem(self) -> str | None:
        """Why the model could not be had at the last try; None once it works."""
        return self._model_problem

    def run_round(self) -> int:
        """One round: how many transcripts were saved. Never raises (a thread must not die of it)."""
        if time.monotonic() < self._retry_at:
            return 0
        try:
            jobs = self.transcripts.pending(self.limits.queue_size)
            self._store_down = False
        except StoreError as exc:
            if not self._store_down:
                LOG.error("transcripts: store unavailable (%s); retrying every %.0f s", exc, self.limits.poll_seconds)
            self._store_down = True
            return 0
        saved = 0
        for job in jobs:
            if self._stop.is_set():
                break
            try:
                saved += self._work(job)
            except ModelUnavailable as exc:
                self._model_unavailable(str(exc))
                break
            except StoreError as exc:
                LOG.error("transcripts: store unavailable while saving %s (%s)", job.recording, exc)
                break
            except Exception:  # noqa: BLE001  (one recording must not stop the others, nor the thread)
                LOG.exception("transcripts: %s failed; it is tried again later", job.recording)
        if jobs:
            self._last_work = time.monotonic()
        elif time.monotonic() - self._last_work > self.limits.idle_seconds:
            self._close_transcriber()
        return saved

    def _work(self, job: TranscriptJob) -> int:
        language = job.language or self.default_language
        with tempfile.TemporaryDirectory(prefix="rl-transcribe-") as work:
            try:
                copies = self._copies(job, Path(work))
            except NotYet as exc:
                if (self.clock() - job.since).total_seconds() < self.limits.missing_grace_seconds:
                    LOG.debug("transcripts: %s waits (%s)", job.recording, exc)
                    return 0
                return self._save(job, language, [], f"recording file missing ({exc})")
            except Skip as exc:
                return self._save(job, language, [], str(exc))
            transcriber = self._get_transcriber()
            segments: list[TranscriptSegment] = []
            for speaker, copy, seconds in copies:
                try:
                    parts = transcriber.transcribe(copy, language, timeout=self.limits.timeout_for(seconds))
                except FileNotTranscribed as exc:
                    if self._stop.is_set():
                        return 0  # interrupted by the server's stop, not the file's fault: next time
                    return self._save(job, language, [], f"not transcribed: {exc}")
                segments.extend(TranscriptSegment(p.start, p.end, speaker, p.text) for p in parts)
                if self._model_problem is not None:
                    LOG.info("transcripts: the speech model works again")
                    self._model_problem = None
        return self._save(job, language, segments, None)

    def _copies(self, job: TranscriptJob, work: Path) -> list[tuple[str, Path, float]]:
        now = time.time()
        copies = []
        for number, source in enumerate(sources_of(job)):
            target = work / f"{number}-{source.speaker}{source.path.suffix or '.wav'}"
            seconds = private_copy(source.path, self.recordings_dir, target, self.limits, now)
            copies.append((source.speaker, target, seconds))
        return copies

    def _save(self, job: TranscriptJob, language: str, segments: Sequence[TranscriptSegment],
              skipped_because: str | None) -> int:
        model = self._transcriber.model if self._transcriber is not None else "-"
        transcript = new_transcript(job, language=language, model=model, segments=segments,
                                    note=skipped_because or "", skipped=skipped_because is not None, at=self.clock())
        if not self.transcripts.save(transcript):
            return 0
        if skipped_because is not None:
            LOG.warning("transcripts: %s %s not transcribed: %s", job.kind, job.recording, skipped_because)
            return 1
        LOG.info("transcripts: %s %s transcribed (%s, %d segments)", job.kind, job.recording, language,
                 len(transcript.segments))
        if job.kind == "compliment":
            try:
                self.on_compliment_transcript(job.owner_id, transcript.text, language)
            except Exception:  # noqa: BLE001  (the screening's trouble is not the transcript's)
                LOG.exception("transcripts: the compliment callback failed for compliment %d", job.owner_id)
        return 1

    def _get_transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = self.make_transcriber()
        return self._transcriber

    def _model_unavailable(self, why: str) -> None:
        if why != self._model_problem:  # once per distinct reason, not every round
            LOG.error("transcripts: the speech model is unavailable (%s); trying again every %.0f s", why,
                      self.limits.retry_seconds)
        self._model_problem = why
        self._retry_at = time.monotonic() + self.limits.retry_seconds
        self._close_transcriber()

    def _close_transcriber(self) -> None:
        transcriber, self._transcriber = self._transcriber, None
        if transcriber is not None:
            try:
                transcriber.close()
            except Exception:  # noqa: BLE001
                LOG.exception("transcripts: closing the transcriber failed")

    def _run(self) -> None:
        while not self._stop.wait(self.limits.poll_seconds):
            self.run_round()
