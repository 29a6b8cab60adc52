"""The desk's access rules, page by page and action by action, on SQLite and PostgreSQL.

Each role against each page and action; an agent never sees a caller's number; a special_care user
cannot open a security case; a form without its CSRF token is refused; evidence needs a role that
may see the case; sessions, cookies, throttling, escaping and the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agi_scripts.desk import app as desk_app
from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.storage import Store
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.desk import DeskStore
from tests.support.desk import (CARE_CALLER, CHEAP_HASHER, PASSWORD, SECURITY_CALLER, USERS, World, csrf_of,
                                desk_options, fill, log_in)


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
    with TestClient(create_app(desk_options(store_url, recordings, throttle_after=3), store)) as test_client:
        yield test_client


def routes(world: World) -> list[tuple[str, str, dict[str, str], set[str]]]:
    """(method, path, form, users allowed) for every page and action; state-changing ones last."""
    sec, care = world.security_case.id, world.care_case.id
    case_workers = {"care", "sec", "boss"}
    return [
        ("GET", "/inbox", {}, case_workers),
        ("GET", "/inbox/rows", {}, case_workers),
        ("GET", f"/cases/{sec}", {}, {"sec", "boss"}),
        ("GET", f"/cases/{care}", {}, {"care", "boss"}),
        ("GET", f"/cases/{sec}/evidence", {}, {"sec", "boss"}),
        ("GET", f"/cases/{care}/evidence", {}, {"care", "boss"}),
        ("GET", f"/cases/{sec}/evidence?download=1", {}, {"sec", "boss"}),
        ("GET", f"/cases/{sec}/report.pdf", {}, {"sec", "boss"}),
        ("GET", f"/cases/{care}/report.pdf", {}, {"care", "boss"}),
        ("GET", "/my/compliments", {}, {"one", "two"}),
        ("GET", "/my/incidents", {}, {"one", "two"}),
        ("GET", f"/my/compliments/{world.compliment_one}/recording", {}, {"one"}),
        ("GET", "/admin/users", {}, {"root"}),
        ("GET", "/live", {}, {"boss"}),
        ("GET", "/live/body", {}, {"boss"}),
        ("GET", "/review/compliments", {}, {"boss"}),
        ("POST", f"/cases/{sec}/note", {"text": "called back"}, {"sec", "boss"}),
        ("POST", f"/cases/{care}/note", {"text": "called back"}, {"care", "boss"}),
        ("POST", f"/cases/{sec}/assign", {}, {"sec", "boss"}),
        ("POST", f"/cases/{care}/assign", {}, {"care", "boss"}),
        ("POST", f"/cases/{sec}/close", {"outcome": "no_contact"}, {"sec", "boss"}),
        ("POST", f"/cases/{care}/close", {"outcome": "spoke_with_caller"}, {"care", "boss"}),
        ("POST", f"/review/compliments/{world.compliment_two}/release", {}, {"boss"}),
        ("POST", "/review/follow-ups/999/close", {"note": "called back"}, {"boss"}),
    ]


@pytest.mark.parametrize("user", sorted(USERS))
def test_each_role_against_each_page_and_action(client: TestClient, world: World, user: str) -> None:
    csrf = log_in(client, user)
    wrong = []
    bodies = []
    for method, path, form, allowed in routes(world):
        if method == "GET":
            answer = client.get(path, follow_redirects=False)
            # Another agent's compliment is, to an agent, one that does not exist.
            refused = 404 if "/my/compliments/" in path and USERS[user][0] == "agent" else 403
            expected = 200 if user in allowed else refused
        else:
            answer = client.post(path, data={"csrf": csrf, **form}, follow_redirects=False)
            expected = 303 if user in allowed else 403
        bodies.append(answer.content)
        if answer.status_code != expected:
            wrong.append(f"{method} {path}: {answer.status_code}, expected {expected}")
        elif method == "POST" and user in allowed:
            assert "error=" not in answer.headers["location"], (path, answer.headers["location"])
    assert not wrong, f"{user}:\n" + "\n".join(wrong)
    if USERS[user][0] in ("agent", "admin"):
        for body in bodies:  # whatever they asked for, never a caller's number
            assert SECURITY_CALLER.encode() not in body and CARE_CALLER.encode() not in body


def test_an_anonymous_visitor_is_sent_to_the_login_page_and_refused_everything_else(
        client: TestClient, world: World) -> None:
    for method, path, form, _allowed in routes(world):
        answer = client.request(method, path, data=form or None, follow_redirects=False)
        if method == "GET" and not path.endswith(("/rows", "/body", "/evidence", "/recording", "download=1", ".pdf")):
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path
        elif path.endswith(".pdf"):
            assert answer.status_code in (303, 401), path
        else:
            assert answer.status_code == 401, path
        assert SECURITY_CALLER.encode() not in answer.content
    assert client.get("/inbox/events", follow_redirects=False).status_code == 401


def test_special_care_cannot_open_a_security_case_and_the_attempt_is_on_its_audit_log(
        client: TestClient, store: Store, world: World) -> None:
    log_in(client, "care")
    page = client.get(f"/cases/{world.security_case.id}")
    assert page.status_code == 403
    assert SECURITY_CALLER not in page.text and "threat" not in page.text.lower()
    assert client.get(f"/cases/{world.security_case.id}/evidence").status_code == 403
    assert [(e.actor, e.action, e.detail) for e in DeskStore(store).audit_of_case(world.security_case.id)] == [
        ("care", "access_refused", "view"), ("care", "access_refused", "evidence")]
    assert client.get("/inbox").text.count("data-case-id=") == 1  # only their own team's case
    assert client.get("/cases/999").status_code == 404
    assert client.get("/cases/abc").status_code == 404


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
        client: TestClient, store: Store, world: World) -> None:
    csrf = log_in(client, "boss")
    before = store.get_case(world.security_case.id)
    for _method, path, form, _allowed in [r for r in routes(world) if r[0] == "POST"]:
        for token in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
            answer = client.post(path, data={**form, **token}, follow_redirects=False)
            assert answer.status_code == 403, (path, token)
    assert store.get_case(world.security_case.id) == before
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/inbox").status_code == 200  # still logged in
    # Another session's token is no good either.
    other = TestClient(client.app)
    other.cookies.update(client.cookies)
    assert other.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_own_token(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"name": "sec", "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403
    assert "rl_session" not in answer.headers.get("set-cookie", "")


def test_wrong_passwords_are_throttled_per_name(client: TestClient, store: Store) -> None:
    for _ in range(3):
        page = client.get("/login")
        answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "sec", "password": "wrong one!"},
                             follow_redirects=False)
        assert answer.status_code == 401 and "Wrong name or password" in answer.text
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "sec", "password": PASSWORD},
                         follow_redirects=False)
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
    assert "rl_session" not in answer.headers.get("set-cookie", "")
    log_in(client, "care")  # another name is not held up by it
    # An unknown name costs the same and counts too.
    client.cookies.clear()
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "' OR 1=1 --", "password": "x"},
                         follow_redirects=False)
    assert answer.status_code == 401


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
        store: Store, store_url: str, recordings: Path, world: World) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(create_app(desk_options(store_url, recordings), store), base_url=base) as client:
            page = client.get("/login")
            answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "sec", "password": PASSWORD},
                                 follow_redirects=False)
            cookie = next(value for key, value in answer.headers.multi_items()
                          if key == "set-cookie" and value.startswith("rl_session="))
            flags = {part.strip().lower() for part in cookie.split(";")}
            assert {"httponly", "samesite=strict", "path=/"} <= flags
            assert ("secure" in flags) is secure
            assert answer.headers["location"] == "/inbox"


def test_a_session_ends_when_idle_at_logout_and_with_a_new_password(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = log_in(client, "sec")
    later = utc_now() + timedelta(minutes=16)
    monkeypatch.setattr(desk_app, "_now", lambda: later)
    answer = client.get("/inbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Finbox"
    monkeypatch.undo()
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)
    csrf = log_in(client, "sec")
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/inbox", follow_redirects=False).status_code == 303
    log_in(client, "sec")
    DeskStore(store).set_password("sec", CHEAP_HASHER.hash("another password"))
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_after_login_the_user_lands_where_they_were_going_but_never_elsewhere(client: TestClient, world: World) -> None:
    for asked, landing in ((f"/cases/{world.security_case.id}", f"/cases/{world.security_case.id}"),
                           ("https://evil.example/", "/inbox"), ("//evil.example/x", "/inbox")):
        client.cookies.clear()
        page = client.get("/login", params={"next": asked})
        answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "sec", "password": PASSWORD,
                                             "next": asked}, follow_redirects=False)
        assert answer.headers["location"] == landing


def test_every_value_is_escaped(client: TestClient, store: Store) -> None:
    hostile = "<script>alert(1)</script>"
    case = store.open_case(category="threat", team="security", priority=1, caller="+32470000000\"><b>",
                           agent=hostile, queue="support", call_id="c9")
    store.add_case_note(case.id, hostile, hostile)
    log_in(client, "sec")
    for page in (client.get(f"/cases/{case.id}").text, client.get("/inbox").text):
        assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '"><b>' not in client.get(f"/cases/{case.id}").text


def test_pages_carry_headers_that_keep_them_to_the_desk(client: TestClient) -> None:
    log_in(client, "sec")
    answer = client.get("/inbox")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


# ---------------------------------------------------------------- the case page and its audit log


def test_working_a_case_lands_on_its_timeline_and_every_step_on_its_audit_log(
        client: TestClient, store: Store, world: World, recordings: Path) -> None:
    case_id = world.security_case.id
    csrf = log_in(client, "sec")
    page = client.get(f"/cases/{case_id}")
    assert SECURITY_CALLER in page.text and "Agent One" in page.text and 'id="evidence-audio"' in page.text
    evidence = recordings / "evidence" / "2025" / "03" / "c1.wav"
    whole = evidence.read_bytes()
    first = client.get(f"/cases/{case_id}/evidence", headers={"Range": "bytes=0-"})
    assert first.status_code == 206 and first.content == whole
    part = client.get(f"/cases/{case_id}/evidence", headers={"Range": "bytes=100-199"})
    assert (part.status_code, part.headers["content-range"], part.content) == (
        206, f"bytes 100-199/{len(whole)}", whole[100:200])
    assert client.get(f"/cases/{case_id}/evidence", headers={"Range": "bytes=-10"}).content == whole[-10:]
    beyond = client.get(f"/cases/{case_id}/evidence", headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(whole)}"
    again = client.get(f"/cases/{case_id}/evidence")  # the player asking again within the minute
    assert again.status_code == 200 and again.headers["accept-ranges"] == "bytes"
    download = client.get(f"/cases/{case_id}/evidence?download=1")
    assert "attachment" in download.headers["content-disposition"]
    pdf = client.get(f"/cases/{case_id}/report.pdf")
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers["content-disposition"]
    for path, form in ((f"/cases/{case_id}/assign", {}), (f"/cases/{case_id}/note", {"text": "Called back."}),
                       (f"/cases/{case_id}/close", {"outcome": "not_a_real_one"})):
        answer = client.post(path, data={"csrf": csrf, **form}, follow_redirects=False)
        assert answer.status_code == 303
    assert "error=" in answer.headers["location"]  # the made-up outcome
    assert store.get_case(case_id).status == "assigned"  # type: ignore[union-attr]
    answer = client.post(f"/cases/{case_id}/close", data={"csrf": csrf, "outcome": "police_report_filed",
                                                          "note": "Report 2025/123"}, follow_redirects=False)
    closed = store.get_case(case_id)
    assert closed is not None and (closed.status, closed.resolution, closed.assignee) == (
        "closed", "police_report_filed", "sec")
    assert [(e.action, e.detail, e.author) for e in closed.events][1:] == [
        ("assigned", "sec", "sec"), ("note", "Called back.", "sec"), ("note", "Report 2025/123", "sec"),
        ("closed", "police_report_filed", "sec")]
    assert [(e.action, e.actor) for e in DeskStore(store).audit_of_case(case_id)] == [
        ("case_viewed", "sec"), ("evidence_played", "sec"), ("evidence_downloaded", "sec"),
        ("report_exported", "sec"), ("assigned", "sec"), ("note_added", "sec"), ("closed", "sec")]
    final = client.get(f"/cases/{case_id}").text
    assert "Police report filed" in final and "Close the case" not in final
    for words in ("viewed the case", "played the evidence", "downloaded the evidence", "exported the police report",
                  "assigned the case", "added a note", "closed the case"):
        assert words in final, words
    # A closed case still takes notes (a police follow-up), as on the command line; nothing else.
    late = client.post(f"/cases/{case_id}/note", data={"csrf": csrf, "text": "Police called."}, follow_redirects=False)
    assert late.headers["location"] == f"/cases/{case_id}"
    again = client.post(f"/cases/{case_id}/close", data={"csrf": csrf, "outcome": "no_contact"},
                        follow_redirects=False)
    assert "error=" in again.headers["location"]
    assert store.get_case(case_id).resolution == "police_report_filed"  # type: ignore[union-attr]


def test_a_recording_outside_the_recordings_folders_is_not_served(
        client: TestClient, store: Store, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.wav"
    secret.write_bytes(b"RIFF-not-for-you")
    case = store.open_case(category="threat", team="security", priority=1, caller="+1", agent="A", queue="q",
                           call_id="c8", recording=str(secret))
    link = tmp_path / "recordings" / "evidence" / "link.wav"
    link.symlink_to(secret)
    linked = store.open_case(category="threat", team="security", priority=1, caller="+1", agent="A", queue="q",
                             call_id="c7", recording=str(link))
    log_in(client, "sec")
    for case_id in (case.id, linked.id):
        answer = client.get(f"/cases/{case_id}/evidence")
        assert answer.status_code == 404 and b"RIFF" not in answer.content
        assert 'id="evidence-audio"' not in client.get(f"/cases/{case_id}").text


def test_a_supervisor_sees_every_teams_inbox_and_can_narrow_it(client: TestClient, world: World) -> None:
    log_in(client, "boss")
    assert client.get("/inbox").text.count("data-case-id=") == 2
    only = client.get("/inbox?team=special_care").text
    assert f'data-case-id="{world.care_case.id}"' in only and only.count("data-case-id=") == 1
    assert client.get("/inbox?team=nonsense").text.count("data-case-id=") == 2


# ---------------------------------------------------------------- agents


def test_an_agent_sees_and_plays_only_their_own_compliments_and_playing_delivers_them(
        client: TestClient, store: Store, world: World) -> None:
    log_in(client, "one")
    page = client.get("/my/compliments").text
    assert f'data-compliment-id="{world.compliment_one}"' in page
    assert f'data-compliment-id="{world.compliment_two}"' not in page
    assert ">new<" in page and "★★★★★" in page
    assert client.get(f"/my/compliments/{world.compliment_two}/recording").status_code == 404
    assert store.get_compliment(world.compliment_one).delivered_at is None  # type: ignore[union-attr]
    assert client.get(f"/my/compliments/{world.compliment_one}/recording").status_code == 200
    assert store.get_compliment(world.compliment_one).delivered_at is not None  # type: ignore[union-attr]
    assert store.get_compliment(world.compliment_two).delivered_at is None  # type: ignore[union-attr]
    assert ">new<" not in client.get("/my/compliments").text
    incidents = client.get("/my/incidents").text
    assert "No incidents." in incidents  # opened directly as cases, these have no incident rows
