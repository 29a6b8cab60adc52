"""gTTS through its real code path, with only the HTTP exchange replaced; and the auto engine choice.

``requests.Session.send`` is the one place gTTS talks to Google: the fake answers with a real MP3
(made with espeak-ng and ffmpeg here) wrapped the way Google's batchexecute endpoint wraps it.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from agi_scripts.prompts.build import build_prompts
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import (
    EngineUnavailable,
    EspeakEngine,
    GttsEngine,
    Reachability,
    choose_engine,
    gtts_reachable,
)
from tests.support.audio_files import read_wav, requires_tools, speech_wav, to_mp3

pytestmark = requires_tools

CATALOG = """\
languages: [nl, en]
prompts:
  hello:
    text: {nl: "Goedendag en welkom.", en: "Hello and welcome."}
  hello_fast:
    speed: 1.5
    text: {nl: "Goedendag en welkom.", en: "Hello and welcome."}
"""


def batchexecute_response(mp3: bytes, status: int = 200) -> requests.Response:
    """What translate.google.com answers: an anti-JSON prefix, then the MP3 base64 inside JSON."""
    encoded = base64.b64encode(mp3).decode("ascii")
    line = json.dumps([["wrb.fr", "jQ1olc", json.dumps([encoded]), None, None, None, "generic"]],
                      separators=(",", ":"))
    response = requests.Response()
    response.status_code = status
    response._content = (")]}'\n\n" + line + "\n").encode("ascii")
    response._content_consumed = True
    response.encoding = "utf-8"
    return response


class FakeGoogle:
    """Stands in for the network under ``requests.Session.send``; remembers what gTTS sent."""

    def __init__(self, mp3: bytes, status: int = 200, error: Exception | None = None) -> None:
        self.mp3 = mp3
        self.status = status
        self.error = error
        self.requests: list[requests.PreparedRequest] = []

    def send(self, session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        response = batchexecute_response(self.mp3, self.status)
        response.request = request
        response.url = request.url or ""
        return response

    def sent_texts(self) -> list[list[Any]]:
        """The [text, lang, speed, ...] parameter of each request, decoded from the f.req form field."""
        result = []
        for request in self.requests:
            raw = request.body
            body = raw.decode() if isinstance(raw, bytes) else str(raw)
            form = urllib.parse.parse_qs(body)
            rpc = json.loads(form["f.req"][0])
            result.append(json.loads(rpc[0][0][1]))
        return result


@pytest.fixture
def speech_mp3(tmp_path: Path) -> bytes:
    spoken = speech_wav(tmp_path / "google-voice.wav", "Hello and welcome to our service.")
    return to_mp3(spoken, tmp_path / "google-voice.mp3").read_bytes()


@pytest.fixture
def catalog(tmp_path: Path) -> PromptCatalog:
    path = tmp_path / "prompts.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    loaded = load_prompt_catalog(path, [])
    assert loaded is not None
    return loaded


def install_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeGoogle) -> None:
    monkeypatch.setattr(requests.Session, "send", lambda session, request, **kw: fake.send(session, request, **kw))


def test_gtts_build_sends_the_text_and_converts_the_mp3_google_returns(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGoogle(speech_mp3)
    install_fake(monkeypatch, fake)
    report = build_prompts(catalog, GttsEngine(), tmp_path / "out", only=["hello"])
    assert [(r.item.key, r.status, r.source) for r in report.results] == [
        ("nl/hello", "built", "gtts"), ("en/hello", "built", "gtts")]
    assert [params[:2] for params in fake.sent_texts()] == [["Goedendag en welkom.", "nl"],
                                                            ["Hello and welcome.", "en"]]
    assert fake.requests[0].url == "https://translate.google.com/_/TranslateWebserverUi/data/batchexecute"
    assert fake.requests[1].url == "https://translate.google.co.uk/_/TranslateWebserverUi/data/batchexecute"
    info = read_wav(tmp_path / "out" / "nl" / "hello.wav")
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert info.seconds > 1.5  # the MP3's sentence, not an empty or placeholder file
    assert info.rms_dbfs() == pytest.approx(-20.0, abs=0.5)


def test_gtts_speed_is_applied_when_converting(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(monkeypatch, FakeGoogle(speech_mp3))
    build_prompts(catalog, GttsEngine(), tmp_path / "out", languages=["en"])
    normal = read_wav(tmp_path / "out" / "en" / "hello.wav").seconds
    fast = read_wav(tmp_path / "out" / "en" / "hello_fast.wav").seconds
    assert fast == pytest.approx(normal / 1.5, rel=0.08)


def test_switching_from_gtts_to_espeak_rebuilds(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(monkeypatch, FakeGoogle(speech_mp3))
    build_prompts(catalog, GttsEngine(), tmp_path / "out", only=["hello"], languages=["en"])
    report = build_prompts(catalog, EspeakEngine(), tmp_path / "out", only=["hello"], languages=["en"])
    assert [(r.status, r.source) for r in report.results] == [("built", "espeak-ng")]


def test_no_network_stops_the_build_with_one_clear_error(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGoogle(speech_mp3, error=requests.exceptions.ConnectionError("Failed to resolve 'translate.google.com'"))
    install_fake(monkeypatch, fake)
    with pytest.raises(EngineUnavailable, match=r"gTTS cannot reach translate.google.com \(failed to resolve\); "
                                                 r"build offline with --engine espeak"):
        build_prompts(catalog, GttsEngine(), tmp_path / "out")
    assert not (tmp_path / "out" / "nl" / "hello.wav").exists()


def test_a_network_that_times_out_is_not_waited_for_once_per_prompt(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGoogle(speech_mp3, error=requests.exceptions.ConnectTimeout("timed out"))
    slow_send = fake.send

    def send_after_a_wait(session: requests.Session, request: requests.PreparedRequest,
                          **kwargs: Any) -> requests.Response:
        time.sleep(0.5)  # stands in for the 3 s connect timeout
        return slow_send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send_after_a_wait)
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match="timed out"):
        build_prompts(catalog, GttsEngine(), tmp_path / "out")
    assert len(fake.requests) <= 2  # of 4 prompts: the rest were dropped, not each timed out
    assert time.monotonic() - started < 1.6


def test_a_refusal_from_google_is_reported_with_its_status(
        tmp_path: Path, catalog: PromptCatalog, speech_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(monkeypatch, FakeGoogle(speech_mp3, status=429))
    report = build_prompts(catalog, GttsEngine(), tmp_path / "out", only=["hello"], languages=["nl"])
    assert report.results[0].status == "failed"
    assert "429" in report.results[0].message


def test_auto_falls_back_to_espeak_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> requests.Response:
        raise requests.exceptions.ConnectionError("Failed to resolve 'translate.google.com'")

    monkeypatch.setattr(requests, "head", no_network)
    said: list[str] = []
    engine = choose_engine("auto", say=said.append)
    assert isinstance(engine, EspeakEngine)
    assert said == [said[0]] and "espeak-ng" in said[0] and "failed to resolve" in said[0]


def test_auto_picks_gtts_when_google_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def answers(*args: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(requests, "head", answers)
    said: list[str] = []
    assert isinstance(choose_engine("auto", say=said.append), GttsEngine)
    assert "gTTS" in said[0] and "HTTP 200" in said[0]


def test_reachability_check_gives_up_at_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def hangs(*args: Any, **kwargs: Any) -> requests.Response:
        time.sleep(5)
        raise requests.exceptions.Timeout()

    monkeypatch.setattr(requests, "head", hangs)
    started = time.monotonic()
    reach = gtts_reachable(timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert not reach.reachable and "did not answer within 0.3 s" in reach.reason


def test_the_real_reachability_check_is_bounded_wherever_it_runs() -> None:
    started = time.monotonic()
    reach = gtts_reachable()
    assert isinstance(reach, Reachability)
    assert time.monotonic() - started < 4.0


def test_explicit_engines_skip_the_network_probe() -> None:
    def probe() -> Reachability:
        raise AssertionError("an explicit engine must not probe the network")

    assert isinstance(choose_engine("espeak", probe=probe), EspeakEngine)
    assert isinstance(choose_engine("gtts", probe=probe), GttsEngine)


def test_an_answer_without_audio_fails_that_prompt(
        tmp_path: Path, catalog: PromptCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake(monkeypatch, FakeGoogle(b""))
    report = build_prompts(catalog, GttsEngine(), tmp_path / "out", only=["hello"], languages=["en"])
    assert report.results[0].status == "failed"
    assert "no audio" in report.results[0].message
