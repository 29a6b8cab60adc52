"""``resolve_language``: the channel's language picks one of ours, never more than that."""

from __future__ import annotations

import pytest

from agi_scripts.prompts.language import normalise_language, resolve_language

OURS = ("nl", "fr", "en")


@pytest.mark.parametrize("channel, expected", [
    ("nl", "nl"), ("fr", "fr"), ("en", "en"),
    ("nl-BE", "nl"), ("nl_BE", "nl"), ("fr_be", "fr"), ("FR-BE", "fr"), ("en-GB", "en"), (" nl ", "nl"),
])
def test_a_supported_language_or_its_regional_variant_is_used(channel: str, expected: str) -> None:
    assert resolve_language(channel, OURS, {}, "nl") == expected


def test_an_exact_regional_language_wins_over_its_primary_language() -> None:
    assert resolve_language("nl_BE", ("nl", "nl-BE", "fr"), {}, "fr") == "nl-BE"
    assert resolve_language("nl-NL", ("nl", "nl-BE", "fr"), {}, "fr") == "nl"


def test_an_unsupported_language_gets_the_default() -> None:
    assert resolve_language("de", OURS, {}, "nl") == "nl"
    assert resolve_language("", OURS, {}, "fr") == "fr"


def test_a_fallback_mapping_is_tried_before_the_default() -> None:
    fallback = {"lb": ["fr", "de"], "de": ["en"], "nl-NL": ["nl"]}
    assert resolve_language("lb", OURS, fallback, "nl") == "fr"
    assert resolve_language("de-AT", OURS, fallback, "nl") == "en"  # by the primary language
    assert resolve_language("es", OURS, fallback, "nl") == "nl"


def test_a_fallback_list_is_tried_in_order_before_the_default() -> None:
    assert resolve_language("de", OURS, ["it", "en", "fr"], "nl") == "en"
    assert resolve_language("de", OURS, "fr", "nl") == "fr"


def test_english_then_any_available_language_are_the_last_resorts() -> None:
    assert resolve_language("de", OURS, {}, "it") == "en"
    assert resolve_language("de", ("fr", "nl"), {}, "it") == "fr"
    assert resolve_language("de", (), {}, "nl") == "nl"


@pytest.mark.parametrize("hostile", [
    "../../etc/passwd", "nl/../../x", "nl\nEXEC System", 'nl"', "nl;fr", "n", "nl-BE-x-private",
    "x" * 200, "nl-", "-nl", "nl BE", "\x00nl", "ñl",
])
def test_a_hostile_or_malformed_channel_language_is_ignored(hostile: str) -> None:
    result = resolve_language(hostile, OURS, {"nl": ["fr"]}, "fr")
    assert result == "fr"
    assert normalise_language(hostile) is None


def test_the_result_is_always_spelled_as_in_the_available_list() -> None:
    assert resolve_language("NL_be", ("nl-BE",), {}, "nl-BE") == "nl-BE"
    assert resolve_language("fr", ("FR",), {}, "FR") == "FR"


def test_malformed_fallback_entries_are_skipped() -> None:
    assert resolve_language("lb", OURS, {"lb": ["../fr", "fr"]}, "nl") == "fr"
