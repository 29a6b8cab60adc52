"""``respectline transcribe --once``: the recordings that wait are transcribed with the real test model
and the store keeps them; a model that cannot be loaded is a clear error, and nothing is kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agi_scripts.storage import Store
from agi_scripts.storage.transcripts import TranscriptStore
from agi_scripts.transcribe.measure import missing_key_words
from tests.support.cli_runner import Cli
from tests.support.config_tree import ConfigTree
from tests.support.speech import BY_LANGUAGE, speech_model, spoken


def spoken_compliment(store: Store, recordings: Path) -> Path:
    folder = recordings / "compliments" / "2026" / "12"
    folder.mkdir(parents=True, exist_ok=True)
    voice = spoken(BY_LANGUAGE["en"].text, "en", folder / "c1.wav")
    settled = time.time() - 120
    os.utime(voice, (settled, settled))  # written a while ago: not being recorded any more
    store.record_call_start("c1", caller="+32470111111", queue="support", language="en", route="support")
    compliment = store.start_compliment("c1", agent="PJSIP/agent1", queue="support", campaign=None)
    store.set_compliment_recording(compliment, str(voice))
    return voice


@pytest.fixture
def recordings(config_tree: ConfigTree) -> Path:
    return config_tree.root / "var" / "recordings"


def test_once_transcribes_what_waits_with_the_model_given(cli: Cli, store: Store, recordings: Path) -> None:
    voice = spoken_compliment(store, recordings)
    out = cli.ok("transcribe", "--once", "--model", str(speech_model()))
    assert "1 recording(s) transcribed" in out
    transcript = TranscriptStore(store).get(str(voice))
    assert transcript is not None and transcript.language == "en"
    assert transcript.model == "whisper-base"  # the folder's name, not a path of this machine
    assert missing_key_words(BY_LANGUAGE["en"].key_words, transcript.text) == [], transcript
    assert "0 recording(s) transcribed" in cli.ok("transcribe", "--once", "--model", str(speech_model()))


def test_a_model_that_cannot_be_loaded_is_a_clear_error(cli: Cli, store: Store, recordings: Path,
                                                        tmp_path: Path) -> None:
    voice = spoken_compliment(store, recordings)
    code, _, err = cli.run("transcribe", "--once", "--model", str(tmp_path / "no-model"))
    assert code == 1
    assert "the speech model is unavailable" in err and "no model.bin" in err
    assert TranscriptStore(store).get(str(voice)) is None  # tried again later, not marked as done


def test_without_a_model_nothing_runs(cli: Cli, store: Store) -> None:
    code, _, err = cli.run("transcribe", "--once")
    assert code == 2 and "set transcription.model" in err
