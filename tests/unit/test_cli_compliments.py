"""``respectline compliments``: the team lead's review list and follow-ups through the real CLI, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from agi_scripts.storage import Store
from agi_scripts.storage.base import TranscriptSegment
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.screening import ScreeningStore
from agi_scripts.storage.transcripts import TranscriptStore, new_transcript
from tests.support.cli_runner import Cli
from tests.support.config_tree import ConfigTree

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


def held_compliment(store: Store, rating: int, recording: Path | None, reason: str = "rating 1 (at or below 2)") -> int:
    compliment_id = store.start_compliment("1700000000.9", agent="Agent One", queue="support", campaign=None, at=T0)
    store.set_compliment_rating(compliment_id, rating, at=T0)
    if recording is not None:
        recording.parent.mkdir(parents=True, exist_ok=True)
        recording.write_bytes(b"RIFF....WAVE")
        store.set_compliment_recording(compliment_id, str(recording), at=T0)
    ScreeningStore(store).screen(compliment_id, "held", reason, only_from=("unscreened",), at=T0)
    return compliment_id


def recordings_of(tree: ConfigTree) -> Path:
    return tree.path("var/recordings")


def test_the_review_list_shows_why_each_compliment_waits(cli: Cli, store: Store, config_tree: ConfigTree) -> None:
    assert cli.ok("compliments", "review") == "no compliment waits for review\n"
    first = held_compliment(store, 1, None)
    listed = cli.json("compliments", "review")
    assert listed == [{"id": first, "at": "2026-12-06 10:00", "agent": "Agent One", "queue": "support", "rating": 1,
                       "state": "held", "reason": "rating 1 (at or below 2)", "recording": "",
                       "call_id": "1700000000.9", "transcript": ""}]
    text = cli.ok("compliments", "review")
    assert "rating 1 (at or below 2)" in text and "held" in text


def test_the_review_list_shows_what_the_transcription_worker_heard(cli: Cli, store: Store,
                                                                  config_tree: ConfigTree) -> None:
    compliment_id = held_compliment(store, 5, recordings_of(config_tree) / "compliments" / "w.wav",
                                    reason="word list (en): idiot")
    transcripts = TranscriptStore(store)
    [job] = transcripts.pending(10)
    assert transcripts.save(new_transcript(job, language="en", model="test", segments=[
        TranscriptSegment(0.0, 1.5, "caller", "Thanks,"), TranscriptSegment(1.5, 3.0, "caller", "you idiot.")]))
    [row] = cli.json("compliments", "review")  # type: ignore[misc]
    assert (row["id"], row["transcript"]) == (compliment_id, "Thanks, you idiot.")
    assert "you idiot." in cli.ok("compliments", "review")


def test_release_lets_the_agent_hear_it_and_is_audited(cli: Cli, store: Store, config_tree: ConfigTree) -> None:
    compliment_id = held_compliment(store, 4, recordings_of(config_tree) / "compliments" / "a.wav",
                                    reason="spoken message without a transcript (transcription is off)")
    out = cli.ok("compliments", "review", "release", str(compliment_id), "--by", "Team Lead")
    assert out == f"compliment {compliment_id} released: Agent One hears it on the compliments line\n"
    assert ScreeningStore(store).new_for_agent("Agent One", limit=10)[1] == 1
    [entry] = DeskStore(store).audit_entries()
    assert (entry.actor, entry.role, entry.action) == ("Team Lead", "cli", "compliment_released")
    assert cli.ok("compliments", "review") == "no compliment waits for review\n"


def test_delete_removes_the_file_keeps_the_rating_and_needs_a_reason(cli: Cli, store: Store,
                                                                     config_tree: ConfigTree) -> None:
    recording = recordings_of(config_tree) / "compliments" / "rude.wav"
    compliment_id = held_compliment(store, 5, recording, reason="word list (en): idiot")
    with pytest.raises(SystemExit) as refused:
        cli.run("compliments", "review", "delete", str(compliment_id), "--by", "Lead", "--reason", "  ")
    assert refused.value.code == 2 and "cannot be empty" in cli.capsys.readouterr().err and recording.exists()
    out = cli.ok("compliments", "review", "delete", str(compliment_id), "--by", "Lead", "--reason", "insults")
    assert "deleted; its rating still counts" in out
    assert not recording.exists()
    compliment = store.get_compliment(compliment_id)
    assert compliment is not None and compliment.rating == 5 and compliment.recording is None
    code, _, err = cli.run("compliments", "review", "release", str(compliment_id), "--by", "Lead")
    assert code == 1 and "was deleted" in err


def test_a_file_outside_the_recordings_folder_is_not_deleted_and_that_is_said(
        cli: Cli, store: Store, config_tree: ConfigTree, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "x.wav"
    compliment_id = held_compliment(store, 5, outside)
    code, out, err = cli.run("compliments", "review", "delete", str(compliment_id), "--by", "Lead", "--reason", "r")
    assert code == 1 and "outside the recordings folder" in err and outside.exists()
    assert store.get_compliment(compliment_id).recording is None  # type: ignore[union-attr]  # never played


def test_bad_ids_and_unknown_compliments_get_clear_errors(cli: Cli, store: Store) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.run("compliments", "review", "release", "x1", "--by", "Lead")
    assert refused.value.code == 2 and "positive whole number" in cli.capsys.readouterr().err
    code, _, err = cli.run("compliments", "review", "release", "42", "--by", "Lead")
    assert code == 1 and "compliment 42 does not exist" in err
    code, _, err = cli.run("compliments", "follow-ups", "close", "42", "--by", "Lead", "--note", "done")
    assert code == 1 and "follow-up 42 does not exist" in err


def test_an_unscreened_compliment_is_not_released_nor_deleted(cli: Cli, store: Store) -> None:
    """Its caller may still be in the post-call flow (see the store's ``release``)."""
    fresh = store.start_compliment("1700000000.8", agent="Agent One", queue="support", campaign=None)
    store.set_compliment_rating(fresh, 1)
    code, _, err = cli.run("compliments", "review", "release", str(fresh), "--by", "Lead")
    assert code == 1 and "not screened yet" in err
    code, _, err = cli.run("compliments", "review", "delete", str(fresh), "--by", "Lead", "--reason", "rude")
    assert code == 1 and "not screened yet" in err
    assert ScreeningStore(store).get(fresh).screening == "unscreened"  # type: ignore[union-attr]


def test_follow_ups_are_listed_and_closed_with_a_note(cli: Cli, store: Store) -> None:
    compliment_id = held_compliment(store, 1, None)
    follow_up = ScreeningStore(store).open_follow_up(compliment_id, at=T0)
    assert follow_up is not None
    [row] = cli.json("compliments", "follow-ups")  # type: ignore[misc]
    assert (row["id"], row["rating"], row["compliment"], row["closed"]) == (follow_up.id, 1, compliment_id, "")
    out = cli.ok("compliments", "follow-ups", "close", str(follow_up.id), "--by", "Lead", "--note", "called back")
    assert out == f"follow-up {follow_up.id} closed\n"
    assert cli.ok("compliments", "follow-ups") == "no follow-up\n"
    [closed] = cli.json("compliments", "follow-ups", "--all")  # type: ignore[misc]
    assert closed["note"] == "Lead called back"
    code, _, err = cli.run("compliments", "follow-ups", "close", str(follow_up.id), "--by", "Lead", "--note", "x")
    assert code == 1 and "closed already" in err
