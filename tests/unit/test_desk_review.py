"""The desk's review of held compliments (``desk/review_pages.py``) on SQLite and PostgreSQL: a supervisor
sees why each one waits, plays it, releases it or deletes the message with a reason, and closes
follow-ups; an agent never sees nor plays a held one; every change and play is audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.storage import Store
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.base import TranscriptSegment
from agi_scripts.storage.screening import ScreeningStore
from agi_scripts.storage.transcripts import TranscriptStore, new_transcript
from tests.support.desk import CHEAP_HASHER, World, desk_options, fill, log_in, tone


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    return fill(store, recordings)


@pytest.fixture
def client(store: Store, store_url: str, recordings: Path, world: World) -> Iterator[TestClient]:
    options = desk_options(store_url, recordings)
    # Deleting a message removes its file from the configured recordings folder: the test's one.
    options = replace(options, settings=replace(options.settings, recordings_dir=recordings))
    with TestClient(create_app(options, store)) as test_client:
        yield test_client


def held(store: Store, recordings: Path, *, rating: int, reason: str, name: str) -> int:
    compliment_id = store.start_compliment(f"c-{name}", agent="Agent One", queue="support", campaign=None)
    store.set_compliment_rating(compliment_id, rating)
    store.set_compliment_recording(compliment_id, str(tone(recordings / "compliments" / f"{name}.wav")))
    ScreeningStore(store).screen(compliment_id, "held", reason, only_from=("unscreened",))
    return compliment_id


def test_the_review_page_shows_why_each_compliment_waits_and_plays_it_audited(
        client: TestClient, store: Store, recordings: Path) -> None:
    rude = held(store, recordings, rating=5, reason="word list (en): <idiot>", name="rude")
    log_in(client, "boss")
    page = client.get("/review/compliments").text
    assert f'data-compliment-id="{rude}"' in page
    assert "word list (en): &lt;idiot&gt;" in page and "<idiot>" not in page  # escaped
    assert "Transcript:" not in page  # none yet
    transcripts = TranscriptStore(store)
    [job] = [job for job in transcripts.pending(10) if job.owner_id == rude]
    transcripts.save(new_transcript(job, language="en", model="test",
                                    segments=[TranscriptSegment(0.0, 2.0, "caller", "Thanks, you <idiot>.")]))
    assert "Transcript: <q>Thanks, you &lt;idiot&gt;.</q>" in client.get("/review/compliments").text
    assert client.get(f"/review/compliments/{rude}/recording").status_code == 200
    assert [(e.actor, e.action) for e in DeskStore(store).audit_entries()][0] == ("boss", "compliment_reviewed")


def test_a_released_compliment_reaches_the_agents_page_and_a_held_one_never(
        client: TestClient, store: Store, recordings: Path, world: World) -> None:
    kind = held(store, recordings, rating=4, reason="spoken message without a transcript", name="kind")
    log_in(client, "one")
    assert f'data-compliment-id="{kind}"' not in client.get("/my/compliments").text
    assert client.get(f"/my/compliments/{kind}/recording").status_code == 404
    assert client.get(f"/review/compliments/{kind}/recording").status_code == 403  # agents review nothing
    client.cookies.clear()
    csrf = log_in(client, "boss")
    answer = client.post(f"/review/compliments/{kind}/release", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/review/compliments?done=released"
    assert "the agent hears it" in client.get(answer.headers["location"]).text
    assert ScreeningStore(store).get(kind).screening == "released"  # type: ignore[union-attr]
    # Released: no longer on the review list; the agent hears and sees it.
    assert f'data-compliment-id="{kind}"' not in client.get("/review/compliments").text
    assert client.get(f"/review/compliments/{kind}/recording").status_code == 404
    client.cookies.clear()
    log_in(client, "one")
    assert f'data-compliment-id="{kind}"' in client.get("/my/compliments").text


def test_an_unscreened_compliment_is_listed_without_buttons_and_refused_if_posted(
        client: TestClient, store: Store, recordings: Path) -> None:
    """Its caller may still be in the post-call flow: a release now would skip the screening."""
    fresh = store.start_compliment("c-fresh", agent="Agent One", queue="support", campaign=None)
    store.set_compliment_rating(fresh, 1)
    csrf = log_in(client, "boss")
    page = client.get("/review/compliments").text
    assert f'data-compliment-id="{fresh}"' in page and "Not screened yet" in page
    assert f"/review/compliments/{fresh}/release" not in page and f"/review/compliments/{fresh}/delete" not in page
    for action, form in (("release", {"csrf": csrf}), ("delete", {"csrf": csrf, "reason": "rude"})):
        answer = client.post(f"/review/compliments/{fresh}/{action}", data=form, follow_redirects=False)
        assert answer.headers["location"] == "/review/compliments?done=unscreened"
    assert "not screened yet" in client.get("/review/compliments?done=unscreened").text
    assert ScreeningStore(store).get(fresh).screening == "unscreened"  # type: ignore[union-attr]
    # Held once the call is over: now the buttons are there.
    ScreeningStore(store).screen(fresh, "held", "rating 1 (at or below 2)", only_from=("unscreened",))
    assert f"/review/compliments/{fresh}/release" in client.get("/review/compliments").text


def test_opening_the_review_list_is_audited(client: TestClient, store: Store, recordings: Path) -> None:
    """The list shows what callers said (transcripts of held messages): who looked is in the audit log."""
    held(store, recordings, rating=1, reason="rating 1 (at or below 2)", name="low")
    log_in(client, "boss")
    assert client.get("/review/compliments").status_code == 200
    [entry] = [e for e in DeskStore(store).audit_entries() if e.action == "compliments_review_opened"]
    assert (entry.actor, entry.detail) == ("boss", "1 waiting, 0 transcripts")


def test_a_deletion_needs_a_reason_removes_the_file_and_is_audited(
        client: TestClient, store: Store, recordings: Path) -> None:
    rude = held(store, recordings, rating=5, reason="word list (en): idiot", name="rude")
    csrf = log_in(client, "boss")
    refused = client.post(f"/review/compliments/{rude}/delete", data={"csrf": csrf, "reason": "   "},
                          follow_redirects=False)
    assert refused.headers["location"].endswith("done=reason")
    assert (recordings / "compliments" / "rude.wav").exists()
    answer = client.post(f"/review/compliments/{rude}/delete", data={"csrf": csrf, "reason": "insults the agent"},
                         follow_redirects=False)
    assert answer.headers["location"].endswith("done=deleted")
    assert not (recordings / "compliments" / "rude.wav").exists()
    found = ScreeningStore(store).get(rude)
    assert found is not None and (found.screening, found.compliment.rating) == ("deleted", 5)
    entry = DeskStore(store).audit_entries()[0]
    assert (entry.actor, entry.role, entry.action, entry.detail) == (
        "boss", "supervisor", "compliment_deleted", f"compliment {rude}: insults the agent")
    again = client.post(f"/review/compliments/{rude}/release", data={"csrf": csrf}, follow_redirects=False)
    assert again.headers["location"].endswith("done=refused")
    gone = client.post("/review/compliments/99999/delete", data={"csrf": csrf, "reason": "x"}, follow_redirects=False)
    assert gone.headers["location"].endswith("done=gone")


def test_follow_ups_are_listed_and_closed_with_a_note(client: TestClient, store: Store, recordings: Path) -> None:
    low = held(store, recordings, rating=1, reason="rating 1 (at or below 2)", name="low")
    follow_up = ScreeningStore(store).open_follow_up(low)
    assert follow_up is not None
    csrf = log_in(client, "boss")
    assert f'data-follow-up-id="{follow_up.id}"' in client.get("/review/compliments").text
    empty = client.post(f"/review/follow-ups/{follow_up.id}/close", data={"csrf": csrf, "note": ""},
                        follow_redirects=False)
    assert empty.headers["location"].endswith("done=note")
    closed = client.post(f"/review/follow-ups/{follow_up.id}/close", data={"csrf": csrf, "note": "called back"},
                         follow_redirects=False)
    assert closed.headers["location"].endswith("done=closed")
    assert f'data-follow-up-id="{follow_up.id}"' not in client.get("/review/compliments").text
    twice = client.post(f"/review/follow-ups/{follow_up.id}/close", data={"csrf": csrf, "note": "again"},
                        follow_redirects=False)
    assert twice.headers["location"].endswith("done=refused")
