"""Transcripts: word error rate per language on speech that went through the real Asterisk at 8 kHz,
and the CPU seconds the model spends per minute of audio.

``make bench-transcribe`` (or ``.venv/bin/python bench/transcribe.py``). A private Asterisk and
``respectline serve`` record calls from connect (each direction in its own file); in one call per
language a pjsua2 caller says the language's sentences (espeak-ng at 8 kHz), the agent flags a threat
so the recording becomes a case's evidence, and the caller's direction file is transcribed here with
the pinned test model (``make install`` joins it) in the call's language, as the worker's child does
(``transcribe.engine``, int8, ``--threads`` CPU threads, no VAD). Word error rate: word-level edit
distance of the transcript to the sentences said, over the words said (``transcribe.measure``).
CPU seconds: the process's user+system time during transcription (CTranslate2's threads included),
over the minutes of audio. Loading the model is measured apart. Results go to
``bench/results/transcribe-<date>-<time>.json`` (git-ignored); the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:  # run as ``python bench/transcribe.py``
    sys.path.insert(0, str(PROJECT))

from agi_scripts.sandbox.demo import demo_flows, record_from_connect  # noqa: E402
from agi_scripts.sandbox.sip import PeerState, SipPhoneSystem  # noqa: E402
from agi_scripts.sandbox.stack import FRENCH_SUPPORT, RespectlineStack, StackOptions  # noqa: E402
from agi_scripts.storage import open_store  # noqa: E402
from agi_scripts.transcribe.engine import WhisperEngine  # noqa: E402
from agi_scripts.transcribe.measure import word_error_rate  # noqa: E402
from agi_scripts.transcribe.testmodel import joined_test_model  # noqa: E402

# Several sentences per language, said one after the other in one call: abuse as agents hear it, and
# ordinary words (a compliment, a question) so the figure is not only about insults.
SENTENCES = {
    "nl": ("Jij bent een idioot. Ik maak je kapot.",
           "Ik wil de verantwoordelijke spreken, nu meteen.",
           "Bedankt voor uw hulp, u was heel vriendelijk."),
    "fr": ("Vous êtes un idiot. Je vais appeler la police.",
           "Je veux parler au responsable, tout de suite.",
           "Merci pour votre aide, vous avez été très gentil."),
    "en": ("You are a stupid idiot and I will find you.",
           "I want to speak to your manager right now.",
           "Thank you for your help, you were very kind."),
}
VOICES = {"nl": "nl", "fr": "fr", "en": "en-gb"}
NUMBERS = {"nl": "120", "fr": FRENCH_SUPPORT, "en": "100"}


@dataclass
class LanguageResult:
    language: str
    audio_seconds: float
    said: str
    transcript: str
    word_error_rate: float
    cpu_seconds: float
    wall_seconds: float

    @property
    def cpu_seconds_per_audio_minute(self) -> float:
        return self.cpu_seconds / (self.audio_seconds / 60.0)


def speech(text: str, language: str, target: Path) -> Path:
    import subprocess

    raw = target.with_name(target.stem + "-raw.wav")
    subprocess.run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", str(raw), text], check=True,
                   capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target), "pad", "0.3", "0.6"],
                   check=True, capture_output=True)
    return target


def record_calls(folder: Path) -> dict[str, Path]:
    """One call per language through the real Asterisk; the caller's direction file of each."""
    flows = record_from_connect(demo_flows(folder), "60s")
    options = StackOptions(agents={"agent1": ["support"]}, callers=tuple(f"caller_{lang}" for lang in SENTENCES),
                           flows_dir=flows, extra_dialplan="exten => 120,1,Set(CHANNEL(language)=nl)\n"
                                                         " same => n,Goto(respectline-queue,support,1)\n")
    files: dict[str, Path] = {}
    with RespectlineStack(options, work_dir=folder / "stack") as stack, \
            SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=folder / "phones",
                           log_path=folder / "pjsua.log") as phones:
        agent = phones.agent("agent1", ring_delay=0.3)
        phones.wait_until(lambda: agent.registered, 15, "agent registered")
        for number, (language, sentences) in enumerate(SENTENCES.items()):
            said = [speech(text, language, folder / f"{language}-{n}.wav") for n, text in enumerate(sentences)]
            caller = phones.caller(f"caller_{language}", caller_id_name=language,
                                   caller_id_number=f"+3247777000{number}")
            answered = agent.calls_answered
            caller.call(NUMBERS[language])
            phones.wait_until(lambda: agent.calls_answered > answered and caller.state is PeerState.CONNECTED, 30,
                              "call answered")
            phones.pump(0.5)
            for file in said:
                phones.pump(caller.play(file) + 0.4)
            agent.press("*2")  # the evidence of a threat: the recording is kept as the case's
            phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "call ended by the ladder")
            phones.pump(1.0)
            store = open_store(stack.db_url)
            try:
                case = max(store.list_cases(), key=lambda c: c.id)  # the case this call's threat opened
            finally:
                store.close()
            assert case.recording is not None
            caller_file = Path(case.recording.removesuffix(".wav") + "-caller.wav")
            kept = folder / f"through-asterisk-{language}.wav"
            kept.write_bytes(caller_file.read_bytes())
            files[language] = kept
            print(f"  recorded the {language} call ({seconds_of(kept):.1f} s)", flush=True)
            # The threat paused the agent for 15 minutes: lift it for the next call, as the keeper would.
            stack.asterisk.rx("queue unpause member PJSIP/agent1")
            phones.pump(1.0)
    return files


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def cpu_now() -> float:
    usage = os.times()
    return usage.user + usage.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the model (default 1, as shipped)")
    parser.add_argument("--repeats", type=int, default=3, help="transcriptions of each file (the median is kept)")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    model_folder = joined_test_model()
    with tempfile.TemporaryDirectory(prefix="rl-bench-transcribe-") as work:
        print("Recording one call per language through Asterisk ...", flush=True)
        files = record_calls(Path(work))
        started = time.monotonic()
        cpu_before = cpu_now()
        engine = WhisperEngine(str(model_folder), cpu_threads=args.threads)
        load = (time.monotonic() - started, cpu_now() - cpu_before)
        results = []
        for language, file in files.items():
            runs = []
            for _ in range(args.repeats):
                wall, cpu = time.monotonic(), cpu_now()
                parts = engine.transcribe(file, language)
                runs.append((cpu_now() - cpu, time.monotonic() - wall, " ".join(p.text for p in parts)))
            runs.sort()
            cpu_seconds, wall_seconds, text = runs[len(runs) // 2]
            said = " ".join(SENTENCES[language])
            results.append(LanguageResult(language, seconds_of(file), said, text, word_error_rate(said, text),
                                          cpu_seconds, wall_seconds))
    print(f"\nmodel: Whisper base (test model), int8, {args.threads} thread(s); {os.cpu_count()} cores "
          f"({platform.machine()}); loading {load[0]:.1f} s wall, {load[1]:.1f} s CPU")
    print(f"{'lang':<5}{'audio s':>8}{'WER':>7}{'CPU s':>8}{'wall s':>8}{'CPU s/audio min':>17}")
    for r in results:
        print(f"{r.language:<5}{r.audio_seconds:>8.1f}{r.word_error_rate:>7.2f}{r.cpu_seconds:>8.1f}"
              f"{r.wall_seconds:>8.1f}{r.cpu_seconds_per_audio_minute:>17.1f}")
    for r in results:
        print(f"  {r.language}: {r.transcript}")
    out = PROJECT / "bench" / "results" / f"transcribe-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "load_wall": load[0], "load_cpu": load[1],
                               "results": [asdict(r) | {"cpu_seconds_per_audio_minute": r.cpu_seconds_per_audio_minute}
                                           for r in results]}, indent=2, ensure_ascii=False))
    print(f"written {out.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
