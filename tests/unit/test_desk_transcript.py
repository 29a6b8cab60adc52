"""The case page shows the evidence's transcript, so Special Care and Security read the call instead of
listening to the abuse again: time, who, the words (escaped), in the reader's language; and nothing of
it while there is none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.storage import Store
from agi_scripts.storage.base import TranscriptSegment
from agi_scripts.storage.transcripts import TranscriptJob, TranscriptStore, new_transcript
from agi_scripts.storage.sql import SqlStore
from tests.support.desk import CHEAP_HASHER, World, desk_options, fill, log_in


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
    with TestClient(create_app(desk_options(store_url, recordings), store)) as test_client:
        yield test_client


def transcribe(store: Store, world: World, segments: list[TranscriptSegment], *, skipped: bool = False) -> None:
    assert isinstance(store, SqlStore) and world.security_case.recording
    job = TranscriptJob(kind="evidence", recording=world.security_case.recording, call_id="c1", language="en",
                        owner_id=world.security_case.id, since=world.security_case.opened_at)
    saved = TranscriptStore(store).save(new_transcript(job, language="en", model="whisper-base", segments=segments,
                                                       note="too long" if skipped else "", skipped=skipped))
    assert saved


def test_the_case_page_shows_who_said_what_and_when(client: TestClient, store: Store, world: World) -> None:
    transcribe(store, world, [TranscriptSegment(3.2, 5.0, "caller", "you stupid idiot <script>alert(1)</script>"),
                              TranscriptSegment(6.0, 7.5, "agent", "I will end this call now")])
    log_in(client, "sec")
    page = client.get(f"/cases/{world.security_case.id}").text
    assert "<h3 id=\"transcript\">Transcript</h3>" in page
    assert "<td>00:03.2</td><td>Caller</td>" in page
    assert "you stupid idiot &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "I will end this call now" in page and "whisper-base" in page


def test_a_dutch_reader_reads_the_headings_in_dutch_and_the_words_as_said(client: TestClient, store: Store,
                                                                          world: World) -> None:
    transcribe(store, world, [TranscriptSegment(1.0, 2.0, "caller", "you idiot")])
    log_in(client, "sec")
    client.headers["Accept-Language"] = "nl-BE"
    page = client.get(f"/cases/{world.security_case.id}").text
    assert "Uitgeschreven gesprek" in page and "<td>Beller</td>" in page and "you idiot" in page


def test_a_recording_not_transcribed_says_why(client: TestClient, store: Store, world: World) -> None:
    transcribe(store, world, [], skipped=True)
    log_in(client, "sec")
    page = client.get(f"/cases/{world.security_case.id}").text
    assert "Not transcribed: too long" in page and "<table aria-labelledby=\"transcript\">" not in page


def test_no_transcript_no_section(client: TestClient, world: World) -> None:
    log_in(client, "sec")
    page = client.get(f"/cases/{world.security_case.id}").text
    assert "id=\"transcript\"" not in page
