"""The desk's part of the store (``storage/desk.py``) on SQLite and PostgreSQL: users, sessions, failed
logins, the shared signing key, the audit log, the inbox and an agent's incidents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agi_scripts.storage import Escalation, NotFound, Store, StoreError
from agi_scripts.storage.base import CaseToOpen, PauseToBook
from agi_scripts.storage.desk import DeskStore

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)


def test_a_user_is_kept_with_its_role_team_and_hash_and_names_are_unique(store: Store) -> None:
    desk = DeskStore(store)
    user = desk.add_user("Sam", "special_care", "$argon2id$hash", team="special_care", language="nl",
                         phone="PJSIP/care1", at=T0)
    assert (user.name, user.role, user.team, user.agent, user.language, user.phone, user.created_at) == (
        "Sam", "special_care", "special_care", None, "nl", "PJSIP/care1", T0)
    assert desk.user_named("Sam") == user
    assert desk.user_named("sam") is None
    with pytest.raises(StoreError, match="exists already"):
        desk.add_user("Sam", "admin", "$argon2id$other")
    agent = desk.add_user("Agent One", "agent", "h", agent="Agent One", team="ignored")
    assert (agent.team, agent.agent) == (None, "Agent One")
    assert [u.name for u in desk.users()] == ["Agent One", "Sam"]  # by role, then name


@pytest.mark.parametrize(("name", "role", "team", "message"), [
    ("", "admin", None, "user name"), (" Sam", "admin", None, "user name"), ("a\nb", "admin", None, "user name"),
    ("Sam", "root", None, "desk role"), ("Sam", "security", None, "team")])
def test_a_user_that_does_not_fit_is_refused_before_anything_is_written(
        store: Store, name: str, role: str, team: str | None, message: str) -> None:
    desk = DeskStore(store)
    with pytest.raises(ValueError, match=message):
        desk.add_user(name, role, "h", team=team)  # type: ignore[arg-type]
    assert desk.users() == []


def test_a_session_is_found_by_its_token_hash_touched_and_closed(store: Store) -> None:
    desk = DeskStore(store)
    user = desk.add_user("Sec", "security", "h", team="security")
    csrf = desk.open_session(user.id, "hash-1", at=T0)
    session = desk.session("hash-1")
    assert session is not None and (session.user, session.csrf_token, session.seen_at) == (user, csrf, T0)
    desk.touch_session("hash-1", at=T0 + timedelta(minutes=5))
    assert desk.session("hash-1").seen_at == T0 + timedelta(minutes=5)  # type: ignore[union-attr]
    assert desk.session("hash-2") is None
    desk.close_session("hash-1")
    assert desk.session("hash-1") is None


def test_a_new_password_ends_every_session_of_its_user_and_old_sessions_are_forgotten(store: Store) -> None:
    desk = DeskStore(store)
    one = desk.add_user("One", "admin", "h1")
    two = desk.add_user("Two", "admin", "h2")
    desk.open_session(one.id, "one-a", at=T0)
    desk.open_session(two.id, "two-a", at=T0)
    desk.set_password("One", "h1-new")
    assert desk.session("one-a") is None and desk.session("two-a") is not None
    assert desk.user_named("One").password_hash == "h1-new"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        desk.set_password("Nobody", "h")
    desk.open_session(one.id, "one-b", at=T0 + timedelta(days=2), forget_before=T0 + timedelta(days=1))
    assert desk.session("two-a") is None and desk.session("one-b") is not None


def test_login_failures_count_per_key_and_start_again_after_the_window(store: Store) -> None:
    desk = DeskStore(store)
    window = T0 - timedelta(minutes=15)
    for minute in range(3):
        desk.count_login_failure(["user:sam", "address:10.0.0.1"], since=window, at=T0 + timedelta(minutes=minute))
    assert sorted(desk.login_failures(["user:sam", "address:10.0.0.1", "user:x"], since=window)) == [
        ("address:10.0.0.1", 3, T0 + timedelta(minutes=2)), ("user:sam", 3, T0 + timedelta(minutes=2))]
    later = T0 + timedelta(hours=1)
    desk.count_login_failure(["user:sam"], since=later - timedelta(minutes=15), at=later)
    assert desk.login_failures(["user:sam"], since=later - timedelta(minutes=15)) == [("user:sam", 1, later)]
    desk.clear_login_failures(["user:sam", "address:10.0.0.1"])
    assert desk.login_failures(["user:sam", "address:10.0.0.1"], since=window) == []


def test_the_signing_key_is_made_once_and_shared(store: Store, store_url: str) -> None:
    from agi_scripts.storage import open_store

    first = DeskStore(store).secret("k")
    other = open_store(store_url)
    try:
        assert DeskStore(other).secret("k") == first and len(first) >= 48
    finally:
        other.close()
    assert DeskStore(store).secret("another") != first


def test_the_audit_log_keeps_who_did_what_to_which_case_and_skips_a_replay(store: Store) -> None:
    desk = DeskStore(store)
    case = store.open_case(category="threat", team="security", priority=1, caller="+32470000001", agent="A",
                           queue="support", call_id="c1", at=T0)
    assert desk.audit("Sec", "security", "case_viewed", case_id=case.id, at=T0)
    assert desk.audit("Sec", "security", "evidence_played", case_id=case.id, at=T0, unless_within=timedelta(minutes=1))
    assert not desk.audit("Sec", "security", "evidence_played", case_id=case.id, at=T0 + timedelta(seconds=30),
                          unless_within=timedelta(minutes=1))
    assert desk.audit("Sec", "security", "evidence_played", case_id=case.id, at=T0 + timedelta(minutes=2),
                      unless_within=timedelta(minutes=1))
    assert desk.audit("Sec", "security", "login", at=T0)
    entries = desk.audit_of_case(case.id)
    assert [(e.actor, e.role, e.action, e.at) for e in entries] == [
        ("Sec", "security", "case_viewed", T0), ("Sec", "security", "evidence_played", T0),
        ("Sec", "security", "evidence_played", T0 + timedelta(minutes=2))]
    assert [e.action for e in desk.audit_entries()] == ["login", "evidence_played", "evidence_played", "case_viewed"]


def test_the_inbox_lists_open_cases_most_urgent_then_oldest_and_its_state_moves(store: Store) -> None:
    desk = DeskStore(store)
    empty = desk.inbox_state()
    normal = store.open_case(category="verbal_abuse", team="special_care", priority=3, caller="+1", agent="A",
                             queue="q", call_id="c1", at=T0)
    urgent = store.open_case(category="threat", team="security", priority=1, caller="+2", agent="A", queue="q",
                             call_id="c2", at=T0 + timedelta(minutes=1))
    older_urgent = store.open_case(category="threat", team="security", priority=1, caller="+3", agent="A",
                                   queue="q", call_id="c3", at=T0 - timedelta(minutes=1))
    closed = store.open_case(category="threat", team="security", priority=1, caller="+4", agent="A", queue="q",
                             call_id="c4", at=T0)
    store.close_case(closed.id, "no_contact")
    opened = desk.inbox_state()
    assert opened != empty
    assert [c.id for c in desk.inbox(None)] == [older_urgent.id, urgent.id, normal.id]
    assert [c.id for c in desk.inbox("security")] == [older_urgent.id, urgent.id]
    assert [c.id for c in desk.inbox("special_care")] == [normal.id]
    store.assign_case(normal.id, "Sam")
    assert desk.inbox_state() != opened
    assert desk.inbox("special_care")[0].assignee == "Sam"
    assert desk.case_team(urgent.id) == "security" and desk.case_team(999) is None


def test_an_agents_incidents_carry_their_case_and_no_caller(store: Store) -> None:
    desk = DeskStore(store)
    store.book_escalation(Escalation(call_id="c1", category="threat", number_in_call=1, number_in_category=1,
                                     agent="Agent One", caller="+32470000009", queue="support", at=T0,
                                     outcome="disconnect", team="security",
                                     case=CaseToOpen(team="security", priority=1)))
    store.book_escalation(Escalation(call_id="c2", category="verbal_abuse", number_in_call=1, number_in_category=1,
                                     agent="Agent Two", caller="+32470000008", queue="support", at=T0,
                                     outcome="warn"))
    [incident] = desk.incidents_of_agent("Agent One")
    assert (incident.category, incident.action, incident.case_status) == ("threat", "disconnect", "open")
    assert not any("+3247" in str(value) for value in vars(incident).values())
    assert desk.incidents_of_agent("Nobody") == []


def test_the_live_view_counts_open_cases_lists_flags_and_pauses_in_force_and_its_state_moves(store: Store) -> None:
    desk = DeskStore(store)
    before = desk.live_state()
    booked = store.book_escalation(Escalation(
        call_id="c1", category="threat", number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32470000009", queue="support", at=T0, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1),
        pause=PauseToBook(agent="PJSIP/agent1", reason="recovery", resume_at=T0 + timedelta(minutes=15))))
    store.book_escalation(Escalation(call_id="c2", category="verbal_abuse", number_in_call=1, number_in_category=1,
                                     agent="Agent Two", caller="+32470000008", queue="billing",
                                     at=T0 - timedelta(days=1), outcome="warn"))
    after = desk.live_state()
    assert after != before
    view = desk.live_view(T0 - timedelta(hours=1))
    assert view.open_cases == {"security": 1} and view.flags_since == 1
    assert [(f.agent, f.category, f.case_id) for f in view.flags] == [("Agent Two", "verbal_abuse", None),
                                                                     ("Agent One", "threat", booked.case_id)]
    [pause] = view.pauses
    assert (pause.interface, pause.agent, pause.resume_at, pause.case_id) == (
        "PJSIP/agent1", "Agent One", T0 + timedelta(minutes=15), booked.case_id)
    assert booked.pause_id is not None
    store.mark_resumed(booked.pause_id)
    assert desk.live_view(T0).pauses == [] and desk.live_state() != after
    assert not any("+3247" in repr(value) for value in (view.flags, view.pauses))
