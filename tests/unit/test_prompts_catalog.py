"""The shipped ``audio_prompts/prompts.yaml``: complete, consistent with the flows' keys, and buildable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agi_scripts.ground.errors import ConfigError
from agi_scripts.prompts.build import build_prompts
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import EspeakEngine
from tests.support.audio_files import read_wav, requires_tools

SHIPPED = Path(__file__).resolve().parents[2] / "audio_prompts" / "prompts.yaml"
REQUIRED_IDS = {
    "campaign_contact_day", "campaign_thank_you_week",
    "compliment_offer", "compliment_rate", "compliment_invalid", "compliment_record_offer",
    "compliment_record", "compliment_thanks", "compliment_goodbye",
    "abuse_warning", "abuse_warning_discrimination", "abuse_closing", "abuse_closing_threat",
    "recording_notice", "routed_special_care", "routed_security",
    "agent_compliments_intro", "agent_compliments_none", "agent_compliment_rating", "agent_compliment_stars",
    "agent_compliments_one_new", "agent_compliments_you_have", "agent_compliments_new",
    "agent_compliments_older_offer", "agent_compliments_no_older",
}
KEYS_SAID = {"compliment_offer": ("1",), "compliment_rate": ("1", "5"), "compliment_record_offer": ("1", "2"),
             "agent_compliments_older_offer": ("1",)}


@pytest.fixture(scope="module")
def shipped() -> PromptCatalog:
    errors: list[ConfigError] = []
    catalog = load_prompt_catalog(SHIPPED, errors)
    assert errors == [] and catalog is not None
    return catalog


def test_the_shipped_catalog_has_every_prompt_in_dutch_french_and_english(shipped: PromptCatalog) -> None:
    assert shipped.languages == ("nl", "fr", "en")
    assert REQUIRED_IDS <= set(shipped.prompts)
    for prompt in shipped.prompts.values():
        assert set(prompt.texts) == {"nl", "fr", "en"}, prompt.id
        assert prompt.description, f"{prompt.id} has no description"


def test_prompts_name_the_keys_the_flows_listen_for(shipped: PromptCatalog) -> None:
    for prompt_id, keys in KEYS_SAID.items():
        for language, text in shipped.prompts[prompt_id].texts.items():
            for key in keys:
                assert key in text, f"{prompt_id}/{language} does not mention key {key}"


def test_abuse_warnings_announce_the_recording_and_the_consequence(shipped: PromptCatalog) -> None:
    words = {"nl": ("opgenomen", "beëindigen"), "fr": ("enregistrée", "mettrons fin"),
             "en": ("recorded", "end the call")}
    for prompt_id in ("abuse_warning", "abuse_warning_discrimination"):
        for language, (recorded, consequence) in words.items():
            text = shipped.prompts[prompt_id].texts[language]
            assert recorded in text and consequence in text, f"{prompt_id}/{language}: {text}"


@requires_tools
def test_every_shipped_prompt_builds_with_espeak_to_a_telephony_length(shipped: PromptCatalog,
                                                                       tmp_path: Path) -> None:
    started = time.monotonic()
    report = build_prompts(shipped, EspeakEngine(), tmp_path)
    elapsed = time.monotonic() - started
    failures = [(result.item.key, result.message) for result in report.results if result.status == "failed"]
    assert failures == []
    assert report.count("built") == 3 * len(shipped.prompts)
    for result in report.results:
        info = read_wav(tmp_path / result.item.language / f"{result.item.prompt_id}.wav")
        assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
        # Fragments said around a digit are short; everything else fits a hold or warning slot.
        assert 0.4 <= info.seconds <= 12.5, f"{result.item.key} lasts {info.seconds:.1f} s"
        assert info.rms_dbfs() == pytest.approx(-20.0, abs=0.5), result.item.key
        assert info.peak_dbfs() <= -0.95, result.item.key
    print(f"espeak build of {len(report.results)} prompts: {elapsed:.1f} s")
