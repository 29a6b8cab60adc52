"""Compliment screening: the rules of ``flows/post_call.yaml``'s ``screening`` section (matching, validation
with ``file:line:col``), the decisions of ``policy/screening.py`` and the store's states, review and
follow-ups (``storage/screening.py``) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.flows.screening import ScreeningRules, normalised_words
from agi_scripts.policy.screening import ComplimentScreener, delete_message, screen_after_call
from agi_scripts.storage import NotFound, Store, StoreError
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.screening import STUCK_UNSCREENED, NotDecidable, ScreeningStore
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import ConfigTree

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def rules(config_tree: ConfigTree) -> ScreeningRules:
    return load_bundle(config_tree.config).post_call.screening


def compliment(store: Store, *, rating: int | None, recording: str | None = None, agent: str = "Agent One",
               at: datetime = T0) -> int:
    compliment_id = store.start_compliment("1700000000.1", agent=agent, queue="support", campaign=None, at=at)
    if rating is not None:
        store.set_compliment_rating(compliment_id, rating, at=at)
    if recording is not None:
        store.set_compliment_recording(compliment_id, recording, at=at)
    return compliment_id


# ------------------------------------------------------------------ the rules


def test_words_match_whole_words_without_case_or_accents(rules: ScreeningRules) -> None:
    assert rules.matching_entry("Thank you, you IDIOT!", "en") == "idiot"
    assert rules.matching_entry("Merci, espèce de CRETIN.", "fr-BE") == "crétin"
    assert rules.matching_entry("Ach, rot   op nou", "nl") == "rot op"
    assert rules.matching_entry("You were idiotically good", "en") is None  # not part of a word
    assert rules.matching_entry("rot, op", "nl") == "rot op"  # punctuation between the words of a phrase
    assert rules.matching_entry("idiot", "de") is None  # no list for that language
    assert normalised_words("Ça va, Zoë?") == ("ca", "va", "zoe")


def test_a_decision_follows_the_rating_then_the_words_then_the_transcription(rules: ScreeningRules) -> None:
    held = rules.decide(rating=2, has_message=False, transcript=None, language="en", transcription_on=False)
    assert (held.state, held.reason) == ("held", "rating 2 (at or below 2)")
    assert rules.decide(rating=5, has_message=False, transcript=None, language="en",
                        transcription_on=False).state == "released"
    assert rules.decide(rating=5, has_message=True, transcript=None, language="en",
                        transcription_on=True).state == "pending_transcript"
    without = rules.decide(rating=5, has_message=True, transcript=None, language="en", transcription_on=False)
    assert without.state == "held" and "transcription is off" in without.reason
    words = rules.decide(rating=5, has_message=True, transcript="shut up", language="en", transcription_on=True)
    assert (words.state, words.reason) == ("held", "word list (en): shut up")
    assert rules.decide(rating=None, has_message=True, transcript="Thanks a lot", language="en",
                        transcription_on=True).state == "released"
    assert rules.needs_follow_up(1) and rules.needs_follow_up(2) and not rules.needs_follow_up(3)
    assert not rules.needs_follow_up(None)


def test_a_file_without_a_screening_section_holds_low_ratings_and_untranscribed_messages(
        config_tree: ConfigTree) -> None:
    text = config_tree.path("flows/post_call.yaml").read_text()
    config_tree.path("flows/post_call.yaml").write_text(text[:text.index("\nscreening:")] + "\n")
    screening = load_bundle(config_tree.config).post_call.screening
    assert (screening.hold_ratings_at_or_below, screening.without_transcript, screening.words) == (2, "hold", {})


def test_release_without_transcript_and_thresholds_are_read(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", "without_transcript: hold", "without_transcript: release")
    config_tree.replace("flows/post_call.yaml", "hold_ratings_at_or_below: 2", "hold_ratings_at_or_below: 0")
    screening = load_bundle(config_tree.config).post_call.screening
    assert screening.without_transcript == "release" and screening.hold_ratings_at_or_below == 0
    assert screening.decide(rating=1, has_message=True, transcript=None, language="nl",
                            transcription_on=False).state == "released"


def test_every_screening_error_is_reported_with_its_position_and_a_hint(config_tree: ConfigTree) -> None:
    flows = "flows/post_call.yaml"
    config_tree.replace(flows, "hold_ratings_at_or_below: 2", "hold_ratings_at_or_below: 7")
    config_tree.replace(flows, "without_transcript: hold", "without_transcript: hide")
    config_tree.replace(flows, "    en: [idiot,", "    english: [idiot,")
    config_tree.replace(flows, "fr: [idiot, connard,", 'fr: ["!!", connard,')
    config_tree.replace(flows, "screening:\n", "screening:\n  hold_rating: 1\n")
    errors = errors_of(config_tree)
    rating = only(errors, "out of range for 'hold_ratings_at_or_below'")
    assert rating.line == config_tree.line_of(flows, "hold_ratings_at_or_below: 7") and rating.column > 1
    hide = only(errors, "'hide' is not a valid without_transcript")
    assert hide.line == config_tree.line_of(flows, "without_transcript: hide") and "hold, release" in hide.message
    language = only(errors, "'english' is not a language code")
    assert language.line == config_tree.line_of(flows, "english:") and "nl, fr, en" in language.hint
    empty = only(errors, "holds no letters or digits")
    assert empty.line == config_tree.line_of(flows, '"!!"')
    unknown = only(errors, "unknown key 'hold_rating'")
    assert unknown.line == config_tree.line_of(flows, "hold_rating: 1")
    assert all(str(error).startswith(str(config_tree.path(flows))) for error in
               (rating, hide, language, empty, unknown))


def test_a_word_list_that_is_not_a_list_or_too_long_is_refused(config_tree: ConfigTree) -> None:
    flows = "flows/post_call.yaml"
    config_tree.replace(flows, "    en: [idiot, moron, stupid, bitch, \"shut up\", \"go to hell\"]",
                        "    en: idiot\n    de: [" + ", ".join(["w"] * 5001) + "]")
    errors = errors_of(config_tree)
    assert only(errors, "expected a list of words for 'en'").line == config_tree.line_of(flows, "en: idiot")
    assert only(errors, "5001 words for 'de'").line == config_tree.line_of(flows, "de: [")


# ------------------------------------------------------------------ the store


def test_new_compliments_are_unscreened_and_older_ones_count_as_released(store: Store) -> None:
    screening = ScreeningStore(store)
    first = compliment(store, rating=5)
    assert screening.get(first).screening == "unscreened"  # type: ignore[union-attr]
    assert screening.new_for_agent("Agent One", limit=10) == ([], 0)  # never played before screening
    assert [c.id for c in screening.review_list()] == [first]
    with pytest.raises(ValueError, match="unknown screening state"):
        screening.screen(first, "hidden", "", only_from=("unscreened",))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        screening.screen(999, "held", "", only_from=("unscreened",))


def test_a_screening_moves_a_compliment_only_from_the_states_it_may_leave(store: Store) -> None:
    screening = ScreeningStore(store)
    first = compliment(store, rating=4, recording="/r/a.wav")
    assert screening.screen(first, "pending_transcript", "waiting", only_from=("unscreened",), at=T0)
    assert not screening.screen(first, "held", "late", only_from=("unscreened",))  # decided already
    found = screening.get(first)
    assert found is not None and (found.screening, found.reason, found.screened_at) == (
        "pending_transcript", "waiting", T0)


def test_the_agent_hears_released_new_ones_oldest_first_and_older_ones_newest_first(store: Store) -> None:
    screening = ScreeningStore(store)
    ids = [compliment(store, rating=5, at=T0 + timedelta(minutes=n)) for n in range(3)]
    other = compliment(store, rating=5, agent="Agent Two")
    empty = compliment(store, rating=None)  # nothing to hear
    for compliment_id in (*ids, other, empty):
        screening.screen(compliment_id, "released", "", only_from=("unscreened",))
    new, total = screening.new_for_agent("Agent One", limit=2)
    assert [c.id for c in new] == ids[:2] and total == 3
    store.mark_compliments_delivered(ids[:2], at=T0 + timedelta(hours=1))
    assert [c.id for c in screening.new_for_agent("Agent One", limit=10)[0]] == [ids[2]]
    assert [c.id for c in screening.heard_by_agent("Agent One", limit=10)] == [ids[1], ids[0]]
    assert [c.id for c in screening.released_for_agent("Agent One", limit=10)] == list(reversed(ids))


def test_release_and_delete_are_audited_and_a_deleted_message_never_comes_back(store: Store) -> None:
    screening = ScreeningStore(store)
    held = compliment(store, rating=1, recording="/r/held.wav")
    rude = compliment(store, rating=5, recording="/r/rude.wav")
    for compliment_id in (held, rude):
        screening.screen(compliment_id, "held", "reason", only_from=("unscreened",))
    released = screening.release(held, by="Lead", role="cli", at=T0)
    assert (released.screening, released.reviewed_by) == ("released", "Lead")
    assert screening.release(held, by="Lead", role="cli").screening == "released"  # twice: nothing more
    with pytest.raises(ValueError, match="needs a reason"):
        screening.delete(rude, by="Lead", role="cli", reason="  ")
    deleted, recording = screening.delete(rude, by="Lead", role="cli", reason="insults the agent", at=T0)
    assert recording == "/r/rude.wav"
    assert (deleted.screening, deleted.compliment.recording, deleted.compliment.rating, deleted.review_reason) == (
        "deleted", None, 5, "insults the agent")
    with pytest.raises(StoreError, match="deleted"):
        screening.release(rude, by="Lead", role="cli")
    assert screening.delete(rude, by="Lead", role="cli", reason="again")[1] is None
    assert screening.new_for_agent("Agent One", limit=10)[1] == 1  # the released one only
    assert screening.review_list() == []
    audit = [(e.actor, e.action, e.detail) for e in reversed(DeskStore(store).audit_entries())]
    assert audit == [("Lead", "compliment_released", f"compliment {held}"),
                     ("Lead", "compliment_deleted", f"compliment {rude}: insults the agent")]
    # The rating alone still counts in the reports.
    [row] = store.compliments_per_agent()
    assert (row.compliments, row.rated) == (2, 2)
    with pytest.raises(NotFound):
        screening.release(999, by="Lead", role="cli")


def test_an_unscreened_compliment_is_neither_released_nor_deleted_until_its_caller_is_done(store: Store) -> None:
    """Its caller may still be in the post-call flow: releasing it would skip the screening (and the
    follow-up of a low rating); deleting it would race the recording still being written."""
    screening = ScreeningStore(store)
    now = datetime.now(timezone.utc)
    fresh = compliment(store, rating=1, recording="/r/fresh.wav", at=now - timedelta(minutes=2))
    with pytest.raises(NotDecidable, match="not screened yet"):
        screening.release(fresh, by="Lead", role="cli")
    with pytest.raises(NotDecidable, match="not screened yet"):
        screening.delete(fresh, by="Lead", role="cli", reason="insults")
    found = screening.get(fresh)
    assert found is not None and (found.screening, found.compliment.recording) == ("unscreened", "/r/fresh.wav")
    assert not screening.decidable(found) and DeskStore(store).audit_entries() == []
    # Once screened, it is the team lead's to decide.
    assert screening.screen(fresh, "held", "rating 1", only_from=("unscreened",))
    assert screening.decidable(screening.get(fresh))  # type: ignore[arg-type]
    assert screening.release(fresh, by="Lead", role="cli").screening == "released"
    # One whose screening was never written (the store failed at the end of its call) is stuck: decidable
    # by hand once no post-call flow can still be running.
    stuck = compliment(store, rating=5, recording="/r/stuck.wav", at=now - STUCK_UNSCREENED - timedelta(minutes=1))
    assert screening.decidable(screening.get(stuck))  # type: ignore[arg-type]
    deleted, recording = screening.delete(stuck, by="Lead", role="cli", reason="never screened; rude")
    assert (deleted.screening, recording) == ("deleted", "/r/stuck.wav")


def test_a_folder_swapped_for_a_link_while_a_message_is_deleted_stops_the_deletion(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone who can write in the recordings folder swaps ``compliments`` for a link to another folder
    right after the path was checked: the deletion goes through folder handles and stops at the link."""
    recordings, elsewhere = tmp_path / "recordings", tmp_path / "elsewhere"
    (recordings / "compliments").mkdir(parents=True)
    elsewhere.mkdir()
    message = recordings / "compliments" / "c1.wav"
    message.write_bytes(b"RIFF")
    precious = elsewhere / "c1.wav"
    precious.write_bytes(b"not a recording")
    compliment_id = compliment(store, rating=1, recording=str(message))
    ScreeningStore(store).screen(compliment_id, "held", "rating 1", only_from=("unscreened",))
    checked = os.path.realpath

    def check_then_swap(path: Any, *args: Any, **kwargs: Any) -> str:
        answer: str = checked(path, *args, **kwargs)
        if Path(path) == recordings / "compliments" and not (recordings / "compliments").is_symlink():
            (recordings / "compliments" / "c1.wav").unlink()
            (recordings / "compliments").rmdir()
            (recordings / "compliments").symlink_to(elsewhere)  # the swap, between the check and the unlink
        return answer

    monkeypatch.setattr(os.path, "realpath", check_then_swap)
    found, problem = delete_message(store, compliment_id, by="Lead", role="cli", reason="insults",
                                    recordings_dir=recordings)
    monkeypatch.undo()
    assert precious.read_bytes() == b"not a recording"
    assert problem is not None and "link" in problem
    assert found.screening == "deleted" and found.compliment.recording is None  # never played either way


def test_a_low_rating_opens_one_follow_up_that_is_closed_with_a_note(store: Store) -> None:
    screening = ScreeningStore(store)
    low = compliment(store, rating=1)
    assert screening.open_follow_up(compliment(store, rating=None)) is None
    first = screening.open_follow_up(low, at=T0)
    assert first is not None and screening.open_follow_up(low) == first  # once
    assert (first.agent, first.rating, first.closed_at) == ("Agent One", 1, None)
    with pytest.raises(ValueError, match="needs a note"):
        screening.close_follow_up(first.id, by="Lead", role="cli", note="")
    closed = screening.close_follow_up(first.id, by="Lead", role="cli", note="called the customer back", at=T0)
    assert (closed.closed_by, closed.note, closed.closed_at) == ("Lead", "called the customer back", T0)
    assert screening.follow_ups() == [] and screening.follow_ups(include_closed=True) == [closed]
    with pytest.raises(StoreError, match="closed already"):
        screening.close_follow_up(first.id, by="Lead", role="cli", note="twice")
    with pytest.raises(NotFound):
        screening.close_follow_up(999, by="Lead", role="cli", note="x")


# ------------------------------------------------------------------ the decisions


def test_after_the_call_a_low_rating_is_held_with_a_follow_up(store: Store, rules: ScreeningRules) -> None:
    screening = ScreeningStore(store)
    low = compliment(store, rating=1, recording="/r/low.wav")
    decision = screen_after_call(screening, rules, low, transcription=True)
    assert decision is not None and decision.state == "held"
    assert [f.compliment_id for f in screening.follow_ups()] == [low]
    assert screen_after_call(screening, rules, low, transcription=True) is None  # decided already
    assert screen_after_call(screening, rules, 999, transcription=True) is None


def test_a_low_rating_given_after_an_early_transcript_still_opens_its_follow_up(
        store: Store, rules: ScreeningRules) -> None:
    """The message's transcript may decide it before the caller presses the rating; the end of the call
    still opens the follow-up of that low rating, whatever the compliment's state by then."""
    screening = ScreeningStore(store)
    early = compliment(store, rating=None, recording="/r/early.wav")
    ComplimentScreener(store, lambda: rules).on_compliment_transcript(early, "Thank you so much", "en")
    assert screening.get(early).screening == "released"  # type: ignore[union-attr]
    assert screening.follow_ups() == []
    store.set_compliment_rating(early, 1)
    assert screen_after_call(screening, rules, early, transcription=True) is None  # decided already
    assert [f.compliment_id for f in screening.follow_ups()] == [early]


def test_a_transcript_decides_a_waiting_message_and_never_a_reviewed_one(store: Store, rules: ScreeningRules) -> None:
    screening = ScreeningStore(store)
    screener = ComplimentScreener(store, lambda: rules)
    kind = compliment(store, rating=5, recording="/r/kind.wav")
    rude = compliment(store, rating=4, recording="/r/rude.wav")
    for compliment_id in (kind, rude):
        assert screen_after_call(screening, rules, compliment_id, transcription=True).state == "pending_transcript"  # type: ignore[union-attr]
    screener.on_compliment_transcript(kind, "Thank you so much, you were great", "en")
    screener.on_compliment_transcript(rude, "Merci, connard.", "fr")
    assert screening.get(kind).screening == "released"  # type: ignore[union-attr]
    found = screening.get(rude)
    assert found is not None and (found.screening, found.reason) == ("held", "word list (fr): connard")
    screening.release(rude, by="Lead", role="cli")
    screener.on_compliment_transcript(rude, "connard", "fr")  # a late transcript again: reviewed stays
    assert screening.get(rude).screening == "released"  # type: ignore[union-attr]
    screener.on_compliment_transcript(999, "whatever", "en")  # gone: nothing happens


def test_a_transcript_that_comes_before_the_end_of_the_call_is_kept(store: Store, rules: ScreeningRules) -> None:
    screening = ScreeningStore(store)
    early = compliment(store, rating=5, recording="/r/early.wav")
    ComplimentScreener(store, lambda: rules).on_compliment_transcript(early, "you idiot", "en")
    assert screen_after_call(screening, rules, early, transcription=True) is None
    assert screening.get(early).screening == "held"  # type: ignore[union-attr]


def test_a_message_held_for_want_of_a_transcript_is_decided_when_one_comes_after_all(
        store: Store, rules: ScreeningRules) -> None:
    screening = ScreeningStore(store)
    screener = ComplimentScreener(store, lambda: rules)
    kind = compliment(store, rating=5, recording="/r/kind.wav")
    rude = compliment(store, rating=5, recording="/r/rude.wav")
    low = compliment(store, rating=1, recording="/r/low.wav")
    for compliment_id in (kind, rude, low):
        screen_after_call(screening, rules, compliment_id, transcription=False)
    screener.on_compliment_transcript(kind, "Merci beaucoup", "fr")
    screener.on_compliment_transcript(rude, "Bedankt, sukkel", "nl-BE")
    screener.on_compliment_transcript(low, "Thanks", "en")
    assert screening.get(kind).screening == "released"  # type: ignore[union-attr]
    assert screening.get(rude).reason == "word list (nl): sukkel"  # type: ignore[union-attr]
    assert screening.get(low).reason == "rating 1 (at or below 2)"  # type: ignore[union-attr]  # the rating stands


def test_an_entry_written_twice_is_a_warning_with_its_position_and_the_files_still_load(
        config_tree: ConfigTree) -> None:
    flows = "flows/post_call.yaml"
    config_tree.replace(flows, 'en: [idiot, moron,', 'en: [idiot, moron, "IDIOT",')
    bundle = load_bundle(config_tree.config)
    [warning] = [w for w in bundle.warnings if "already in the 'en' list" in w.message]
    assert warning.line == config_tree.line_of(flows, '"IDIOT"') and warning.hint == "remove one of them"
    assert bundle.post_call.screening.shown_words["en"].count("idiot") == 1
