"""The spoken summaries of aftercare and the one shared speaker (``prompts.spoken``): the texts per language
with only config values in them, the file espeak-ng really makes, and the fallback to the generic prompt
when it cannot be made (no folder, no espeak-ng, too slow, a path the dialplan would not play)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
import wave
from pathlib import Path

import pytest

from agi_scripts.asterisk_conf.aftercare import checkin_dialplan
from agi_scripts.config.agents import AgentDirectory
from agi_scripts.config.bundle import load_bundle
from agi_scripts.policy.checkin_summary import SummaryMaker, check_in_text, listen_in_text
from agi_scripts.policy.checkins import CheckInKeeper, originate_fields
from agi_scripts.prompts.engines import EspeakEngine
from agi_scripts.prompts.spoken import PLAYABLE_PATH, remove_spoken, spoken_file, spoken_value
from agi_scripts.config.settings import AmiSettings
from agi_scripts.flows.abuse_policy import load_abuse_policy
from agi_scripts.ground.errors import ConfigError
from agi_scripts.storage import Store
from agi_scripts.storage.base import CaseToOpen, Escalation, PauseToBook, StoreError
from agi_scripts.storage.checkins import CheckIn, CheckInBook, CheckInToBook
from tests.support.config_tree import PROJECT

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def _check_in(reason: str = "flag", agent: str = "Agent One", endpoint: str = "PJSIP/agent1") -> CheckIn:
    return CheckIn(id=1, call_id="c1", incident_id=1, case_id=1, agent=agent, agent_endpoint=endpoint,
                   category="threat" if reason == "flag" else "listen_in", roster="duty", language="en",
                   reason=reason, spy_channel="PJSIP/agent1-00000001" if reason == "listen_in" else "",
                   requested_at=T0, due_at=T0 + dt.timedelta(minutes=10), status="ringing", done_at=None,
                   done_by=None, outcome=None)


def _maker(folder: Path, pause: float = 15.0, now: dt.datetime = T0 + dt.timedelta(minutes=2, seconds=10)
           ) -> SummaryMaker:
    return SummaryMaker(folder, AgentDirectory({"PJSIP/agent1": "Agent One"}), ("support", "billing"),
                        lambda _check_in: pause, lambda: now)


# ------------------------------------------------------------------ the texts


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "This is Respectline. Agent One had a difficult call, Threat, 2 minutes ago, and is paused for 15 minutes."),
    ("nl", "Hier Respectline. Agent One had 2 minuten geleden een moeilijk gesprek, Threat, en staat 15 minuten op "
           "pauze."),
    ("fr", "Ici Respectline. Agent One a eu un appel difficile, Threat, il y a 2 minutes, et est en pause pour 15 "
           "minutes."),
])
def test_the_check_in_summary_says_who_what_when_and_how_long_per_language(language: str, expected: str) -> None:
    assert check_in_text(language, "Agent One", "Threat", 2, 15) == expected


def test_one_minute_just_now_no_pause_and_an_unknown_language() -> None:
    assert check_in_text("nl", "Agent One", "Threat", 1, 1).endswith("1 minuut geleden een moeilijk gesprek, Threat, "
                                                                     "en staat 1 minuut op pauze.")
    assert check_in_text("fr", "Agent One", "Threat", 0, 0) == \
        "Ici Respectline. Agent One a eu un appel difficile, Threat, à l'instant."
    assert check_in_text("de", "", "", 0, 0) == "This is Respectline. A colleague had a difficult call, just now."


def test_the_listen_in_summary_names_the_agent_and_the_queue() -> None:
    assert listen_in_text("en", "Agent One", "billing").startswith(
        "This is Respectline. Agent One asks for help on a difficult call in the billing queue. Press 1 to listen in.")
    assert "Agent One vraagt hulp bij een moeilijk gesprek in de wachtrij billing. Druk op 1" in \
        listen_in_text("nl", "Agent One", "billing")
    assert "Un collègue demande de l'aide pendant un appel difficile. Appuyez sur 1" in listen_in_text("fr", "", "")


def test_values_are_cleaned_before_they_are_spoken() -> None:
    assert spoken_value("Agent <b>One</b>\n[[pause]] & co") == "Agent b One b pause co"
    assert spoken_value("José-María O'Neil (nights)") == "José-María O'Neil (nights)"
    assert len(spoken_value("x" * 500)) == 80
    assert "\n" not in check_in_text("en", "Agent\nOne", "Threat\r", 2, 15)


def test_the_maker_speaks_only_names_from_the_config(tmp_path: Path) -> None:
    maker = _maker(tmp_path)
    assert maker.text(_check_in(), "en", "Threat") == check_in_text("en", "Agent One", "Threat", 2, 15)
    # A name the case holds but the directory does not know, for a phone it does not know: "a colleague".
    stranger = _check_in(agent="+32470000001", endpoint="PJSIP/unknown")
    assert maker.text(stranger, "en", "Threat").startswith("This is Respectline. A colleague had")
    # The phone decides the name, as the case names the agent.
    assert maker.agent_name(_check_in(agent="whatever", endpoint="PJSIP/agent1")) == "Agent One"
    listen = _check_in("listen_in")
    assert "in the billing queue" in maker.text(listen, "en", "", ["billing", "support"])
    assert "queue" not in maker.text(listen, "en", "", ["not-configured"])  # Asterisk's queue not in queues:


# ------------------------------------------------------------------ the file


def test_spoken_file_makes_a_wav_the_dialplan_plays(tmp_path: Path) -> None:
    path = spoken_file("Agent One, billing, 3 of 12", "en", tmp_path / "checkins", "summary-0123abcd")
    assert path == str(tmp_path / "checkins" / "summary-0123abcd") and PLAYABLE_PATH.fullmatch(path)
    with wave.open(f"{path}.wav") as audio:
        assert audio.getframerate() == 8000 and audio.getnframes() > 8000  # more than a second of speech
    remove_spoken(path)
    assert not Path(f"{path}.wav").exists()
    remove_spoken(path)  # twice: nothing to do, no error


def test_without_a_folder_without_espeak_or_with_a_bad_name_there_is_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "checkins"
    blocked.write_text("a file, not a folder", encoding="utf-8")
    assert spoken_file("Agent One", "en", blocked, "summary-1") == ""
    assert spoken_file("Agent One", "en", tmp_path / "with space", "summary-1") == ""  # FILTER would change it
    assert spoken_file("Agent One", "en", tmp_path, "../escape") == ""
    assert spoken_file("   ", "en", tmp_path, "summary-1") == ""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert spoken_file("Agent One", "en", tmp_path / "ok", "summary-2") == ""
    assert not (tmp_path / "ok" / "summary-2.wav").exists()


def test_a_slow_synthesis_gives_up_in_time_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finished = threading.Event()
    real = EspeakEngine.synthesise

    def slow(self: EspeakEngine, text: str, language: str, speed: float, folder: Path) -> Path:
        time.sleep(1.5)
        try:
            return real(self, text, language, speed, folder)
        finally:
            finished.set()

    monkeypatch.setattr(EspeakEngine, "synthesise", slow)
    assert spoken_file("Agent One", "en", tmp_path, "summary-slow", within=0.2) == ""
    assert finished.wait(30)
    time.sleep(0.5)  # the conversion after the synthesis
    assert not (tmp_path / "summary-slow.wav").exists(), "a summary finished too late must not be left behind"


# ------------------------------------------------------------------ the keeper and the dialplan


def test_the_summary_goes_to_the_dialplan_only_when_there_is_one() -> None:
    with_summary = originate_fields("PJSIP/lead1", _check_in(), "ab12", "en", 6, 5, summary="/var/rec/checkins/summary-ab12")
    assert "RL_CHECKIN_SUMMARY=/var/rec/checkins/summary-ab12" in with_summary["Variable"].split(",")
    assert "RL_CHECKIN_SUMMARY" not in originate_fields("PJSIP/lead1", _check_in(), "ab12", "en", 6, 5)["Variable"]


def test_a_failing_store_or_ami_gives_the_generic_prompt_not_a_lost_try(store: Store, tmp_path: Path) -> None:
    errors: list[ConfigError] = []
    policy = load_abuse_policy(PROJECT / "flows/abuse_policy.yaml", errors)

    def broken(_check_in: CheckIn) -> float:
        raise StoreError("the store is down")

    maker = SummaryMaker(tmp_path / "recordings", AgentDirectory({}), (), broken, lambda: T0)
    keeper = CheckInKeeper(store, AmiSettings(), policy, timezone=dt.timezone.utc, default_language="en",
                           languages=["en"], summaries=maker)
    assert keeper.summary(None, _check_in(), "en", "ab12") == ""  # type: ignore[arg-type]  # no AMI needed
    assert not (tmp_path / "recordings").exists()


def test_the_dialplan_filters_the_summary_and_falls_back_to_the_generic_prompts() -> None:
    plan = checkin_dialplan(load_bundle(PROJECT / "config/respectline.yaml"))
    assert plan.count("Set(RL_CHECKIN_SUMMARY=${FILTER(-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789/._,${RL_CHECKIN_SUMMARY})})") == 2
    fallback = '${IF($["${RL_CHECKIN_SUMMARY:0:1}" = "/"]?${RL_CHECKIN_SUMMARY}:respectline/${RL_CHECKIN_LANG}/%s)}'
    assert f"Playback({fallback % 'checkin_summary'})" in plan
    assert f"Read(RL_CHECKIN_KEY,{fallback % 'listen_in_request'},1,,1," in plan


def test_the_pause_of_the_flag_is_read_from_the_store(store: Store) -> None:
    booked = store.book_escalation(Escalation(
        call_id="c1", category="threat", number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32470000001", queue="support", at=T0, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1),
        pause=PauseToBook(agent="PJSIP/agent1", reason="recovery", resume_at=T0 + dt.timedelta(minutes=15))))
    book = CheckInBook(store)
    check_in_id = book.request(CheckInToBook(
        call_id="c1", agent="Agent One", agent_endpoint="PJSIP/agent1", category="threat", roster="duty",
        language="en", within=600, at=T0, incident_id=booked.incident_id, case_id=booked.case_id))
    assert check_in_id is not None
    found = book.get(check_in_id)
    assert found is not None and book.pause_minutes_of(found) == 15.0
    assert book.pause_minutes_of(dataclasses.replace(found, case_id=None, agent_endpoint="PJSIP/x")) == 0.0


def test_summaries_left_by_a_stopped_server_are_cleared_not_the_ones_being_played(tmp_path: Path) -> None:
    folder = tmp_path / "checkins"
    folder.mkdir()
    old, new, other = folder / "summary-old.wav", folder / "summary-new.wav", folder / "keep.wav"
    for file in (old, new, other):
        file.write_bytes(b"RIFF")
    now = time.time()
    os.utime(old, (now - 3600, now - 3600))
    os.utime(other, (now - 3600, now - 3600))
    assert _maker(tmp_path).clear_left(now) == 1
    assert not old.exists() and new.exists() and other.exists()
    assert _maker(tmp_path / "missing").clear_left(now) == 0
