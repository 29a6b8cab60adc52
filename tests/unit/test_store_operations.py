"""Every store operation, on SQLite and on PostgreSQL (``store`` runs each test on both): calls,
compliments, flags, cases, pauses, reports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from agi_scripts.storage import (Case, CaseToOpen, Escalation, EscalationBooked, NotFound, Store, StoreError,
                                 open_store)

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc)


def flag(store: Store, call_id: str, category: str, seconds: float, *, team: str | None = None,
         outcome: str | None = "warn", queue: str = "support", caller: str = "+3225551234",
         case: CaseToOpen | None = None, at: datetime | None = None) -> EscalationBooked:
    """Book the call's next flag as the ladder does (it numbers the flags; the store keeps the numbers)."""
    earlier = store.list_incidents(call_id=call_id)
    return store.book_escalation(Escalation(
        call_id=call_id, category=category, number_in_call=len(earlier) + 1,
        number_in_category=sum(1 for incident in earlier if incident.category == category) + 1,
        agent="PJSIP/anna", caller=caller, queue=queue, at=at or T0 + timedelta(seconds=seconds), outcome=outcome,
        team=team, case=case))


def open_test_case(store: Store, *, caller: str = "+3225551234", team: str = "special_care",
                   priority: int = 2, at: datetime = T0) -> Case:
    return store.open_case(category="verbal", team=team, priority=priority, caller=caller,
                           agent="PJSIP/anna", queue="support", call_id="c1", recording="rec/c1.wav", at=at)


# ------------------------------------------------------------------ calls


def test_call_start_is_read_back_with_every_field(store: Store) -> None:
    store.record_call_start("1700000000.1", caller="+3225551234", queue="support", language="nl",
                            route="support", campaign="cc-day", started_at=T0)
    call = store.get_call("1700000000.1")
    assert call is not None
    assert (call.call_id, call.caller, call.queue, call.language, call.route, call.campaign) == (
        "1700000000.1", "+3225551234", "support", "nl", "support", "cc-day")
    assert call.started_at == T0 and call.started_at.tzinfo is not None
    assert (call.agent, call.ended_at, call.outcome) == (None, None, None)


def test_call_start_twice_keeps_the_first_row(store: Store) -> None:
    store.record_call_start("c1", caller="100", queue="support", language="nl", route="support", started_at=T0)
    again = store.record_call_start("c1", caller="200", queue="billing", language="fr", route="billing")
    assert (again.caller, again.queue, again.started_at) == ("100", "support", T0)


def test_update_call_sets_only_the_fields_given(store: Store) -> None:
    store.record_call_start("c1", caller="100", queue="support", language="nl", route="support",
                            campaign="cc-day", started_at=T0)
    store.update_call("c1", agent="PJSIP/anna")
    updated = store.update_call("c1", ended_at=T0 + timedelta(minutes=5), outcome="disconnected")
    assert updated is not None
    assert (updated.agent, updated.campaign, updated.outcome) == ("PJSIP/anna", "cc-day", "disconnected")
    assert updated.ended_at == T0 + timedelta(minutes=5)
    assert store.get_call("c1") == updated


def test_update_of_an_unknown_call_returns_none(store: Store) -> None:
    assert store.update_call("nope", outcome="x") is None
    assert store.get_call("nope") is None


def test_times_in_other_zones_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    brussels = datetime(2025, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Brussels"))
    call = store.record_call_start("c1", caller="1", queue="q", language="nl", route="q", started_at=brussels)
    assert call.started_at == brussels and call.started_at.utcoffset() == timedelta(0)
    assert call.started_at.hour == 10


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_call_start("c1", caller="1", queue="q", language="nl", route="q",
                                started_at=datetime(2025, 1, 1, 12, 0))


# ------------------------------------------------------------------ compliments


def test_compliment_started_then_rated_and_recorded(store: Store) -> None:
    cid = store.start_compliment("c1", agent="PJSIP/anna", queue="support", campaign="cc-day", at=T0)
    store.set_compliment_rating(cid, 5, at=T0 + timedelta(seconds=10))
    store.set_compliment_recording(cid, "compliments/c1.wav", at=T0 + timedelta(seconds=30))
    got = store.get_compliment(cid)
    assert got is not None
    assert (got.call_id, got.agent, got.queue, got.campaign, got.rating, got.recording) == (
        "c1", "PJSIP/anna", "support", "cc-day", 5, "compliments/c1.wav")
    assert (got.created_at, got.updated_at, got.delivered_at) == (T0, T0 + timedelta(seconds=30), None)


def test_partial_compliment_is_kept_when_the_caller_hangs_up_before_rating(store: Store) -> None:
    cid = store.start_compliment("c1", agent="PJSIP/anna", queue="support", campaign=None, at=T0)
    # the caller hangs up: nothing else happens
    [kept] = store.list_compliments(agent="PJSIP/anna")
    assert (kept.id, kept.rating, kept.recording, kept.campaign) == (cid, None, None, None)


@pytest.mark.parametrize("bad", [0, 6, -1, True, 4.5, "5"])
def test_rating_outside_one_to_five_is_refused(store: Store, bad: object) -> None:
    cid = store.start_compliment("c1", agent="a", queue="q", campaign=None)
    with pytest.raises(ValueError, match="1 to 5"):
        store.set_compliment_rating(cid, bad)  # type: ignore[arg-type]
    assert store.get_compliment(cid).rating is None  # type: ignore[union-attr]


def test_rating_or_recording_an_unknown_compliment_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.set_compliment_rating(999, 3)
    with pytest.raises(NotFound):
        store.set_compliment_recording(999, "x.wav")


def test_list_compliments_newest_first_filtered_by_agent_and_since(store: Store) -> None:
    ids = [store.start_compliment(f"c{i}", agent="anna" if i % 2 == 0 else "bert", queue="support",
                                  campaign=None, at=T0 + timedelta(hours=i)) for i in range(6)]
    assert [c.id for c in store.list_compliments()] == ids[::-1]
    assert [c.id for c in store.list_compliments(agent="anna")] == [ids[4], ids[2], ids[0]]
    assert [c.id for c in store.list_compliments(since=T0 + timedelta(hours=3))] == [ids[5], ids[4], ids[3]]
    assert [c.id for c in store.list_compliments(agent="bert", since=T0 + timedelta(hours=2))] == [ids[5], ids[3]]
    assert [c.id for c in store.list_compliments(limit=2)] == [ids[5], ids[4]]


def test_delivered_compliments_leave_the_agents_new_list_and_keep_their_first_time(store: Store) -> None:
    first = store.start_compliment("c1", agent="anna", queue="q", campaign=None, at=T0)
    second = store.start_compliment("c2", agent="anna", queue="q", campaign=None, at=T0 + timedelta(minutes=1))
    store.mark_compliments_delivered([first], at=T0 + timedelta(hours=1))
    assert [c.id for c in store.list_compliments(agent="anna", undelivered_only=True)] == [second]
    store.mark_compliments_delivered([first, second], at=T0 + timedelta(hours=2))
    assert store.get_compliment(first).delivered_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    assert store.get_compliment(second).delivered_at == T0 + timedelta(hours=2)  # type: ignore[union-attr]
    assert store.list_compliments(agent="anna", undelivered_only=True) == []


# ------------------------------------------------------------------ flags and incidents


def test_flags_keep_their_numbers_in_the_call_and_in_their_category(store: Store) -> None:
    for category, seconds in (("verbal", 0), ("threat", 1), ("verbal", 10)):
        flag(store, "c1", category, seconds)
    flag(store, "c2", "verbal", 0)
    assert [(i.category, i.number_in_call, i.number_in_category) for i in store.list_incidents(call_id="c1")] == [
        ("verbal", 1, 1), ("threat", 2, 1), ("verbal", 3, 2)]
    assert [(i.number_in_call, i.number_in_category) for i in store.list_incidents(call_id="c2")] == [(1, 1)]


def test_incidents_keep_their_numbers_action_team_and_case(store: Store) -> None:
    flag(store, "c1", "verbal", 0, team="special_care")
    booked = flag(store, "c1", "verbal", 20, team="special_care", outcome="disconnect",
                  case=CaseToOpen(team="special_care", priority=2))
    first, second = store.list_incidents(call_id="c1")
    assert (first.number_in_call, first.number_in_category, first.action, first.case_id) == (1, 1, "warn", None)
    assert (second.number_in_call, second.action, second.case_id, second.team) == (
        2, "disconnect", booked.case_id, "special_care")
    assert (second.agent, second.caller, second.queue, second.at) == (
        "PJSIP/anna", "+3225551234", "support", T0 + timedelta(seconds=20))
    assert store.list_incidents(since=T0 + timedelta(seconds=10)) == [second]


def test_an_incidents_action_and_case_can_be_set_afterwards(store: Store) -> None:
    booked = flag(store, "c1", "verbal", 0, outcome=None)
    case = open_test_case(store)
    store.set_incident_action(booked.incident_id, "disconnect", case_id=case.id)
    [incident] = store.list_incidents(call_id="c1")
    assert (incident.action, incident.case_id) == ("disconnect", case.id)


def test_incident_action_for_unknown_incident_or_case_is_not_found(store: Store) -> None:
    result = flag(store, "c1", "verbal", 0)
    with pytest.raises(NotFound):
        store.set_incident_action(12345, "warn")
    with pytest.raises(NotFound):
        store.set_incident_action(result.incident_id, "disconnect", case_id=777)


# ------------------------------------------------------------------ cases


def test_open_case_starts_open_with_a_case_opened_event(store: Store) -> None:
    case = open_test_case(store)
    assert (case.status, case.team, case.priority, case.caller, case.recording) == (
        "open", "special_care", 2, "+3225551234", "rec/c1.wav")
    assert [e.action for e in case.events] == ["case_opened"]
    assert store.get_case(case.id) == case


def test_case_life_events_assign_note_close_are_kept_in_order(store: Store) -> None:
    case = open_test_case(store)
    store.add_case_event(case.id, "warn", "first flag", at=T0)
    store.add_case_event(case.id, "disconnect", "second flag", at=T0 + timedelta(seconds=30))
    store.add_case_event(case.id, "agent_paused", "PJSIP/anna for 10 min", at=T0 + timedelta(seconds=31))
    assigned = store.assign_case(case.id, "sofie", author="supervisor", at=T0 + timedelta(hours=1))
    assert (assigned.status, assigned.assignee) == ("assigned", "sofie")
    note = store.add_case_note(case.id, "sofie", "Called back; apologised.", at=T0 + timedelta(hours=2))
    assert (note.action, note.author, note.detail) == ("note", "sofie", "Called back; apologised.")
    closed = store.close_case(case.id, "apology accepted", author="sofie", at=T0 + timedelta(days=1))
    assert (closed.status, closed.closed_at, closed.resolution) == ("closed", T0 + timedelta(days=1),
                                                                    "apology accepted")
    assert [e.action for e in closed.events] == [
        "case_opened", "warn", "disconnect", "agent_paused", "assigned", "note", "closed"]
    assert closed.events[-1].author == "sofie"
    assert store.get_case(case.id) == closed


def test_closed_case_cannot_be_assigned_or_closed_again_but_takes_notes(store: Store) -> None:
    case = open_test_case(store)
    store.close_case(case.id, "done")
    with pytest.raises(StoreError, match="closed"):
        store.assign_case(case.id, "sofie")
    with pytest.raises(StoreError, match="closed"):
        store.close_case(case.id, "again")
    store.add_case_note(case.id, "sofie", "caller phoned about it")
    assert store.get_case(case.id).events[-1].action == "note"  # type: ignore[union-attr]


def test_unknown_case_is_none_or_not_found(store: Store) -> None:
    assert store.get_case(42) is None
    for attempt in (lambda: store.add_case_event(42, "warn"), lambda: store.assign_case(42, "x"),
                    lambda: store.add_case_note(42, "x", "y"), lambda: store.close_case(42, "z")):
        with pytest.raises(NotFound):
            attempt()


def test_list_cases_filters_by_status_and_team_most_urgent_first(store: Store) -> None:
    low = open_test_case(store, priority=3, at=T0)
    urgent = open_test_case(store, priority=1, team="security", at=T0 + timedelta(hours=1))
    older_same = open_test_case(store, priority=3, at=T0 - timedelta(hours=1))
    store.assign_case(low.id, "sofie")
    assert [c.id for c in store.list_cases()] == [urgent.id, older_same.id, low.id]
    assert [c.id for c in store.list_cases(status="open")] == [urgent.id, older_same.id]
    assert [c.id for c in store.list_cases(team="special_care")] == [older_same.id, low.id]
    assert [c.id for c in store.list_cases(status="assigned", team="special_care")] == [low.id]
    assert all(c.events for c in store.list_cases())
    with pytest.raises(ValueError):
        store.list_cases(status="pending")  # type: ignore[arg-type]


def test_repeat_caller_with_an_open_or_assigned_case_is_found(store: Store) -> None:
    case = open_test_case(store)
    assert store.open_case_for_caller("+3225551234", T0 + timedelta(days=400), {}) == case
    store.assign_case(case.id, "sofie")
    found = store.open_case_for_caller("+3225551234", T0, {})
    assert found is not None and found.id == case.id
    assert store.open_case_for_caller("+3299999999", T0, {"special_care": 30}) is None


def test_repeat_caller_with_a_closed_case_is_routed_only_within_its_teams_window(store: Store) -> None:
    case = open_test_case(store, team="security")
    store.close_case(case.id, "resolved", at=T0)
    windows = {"security": 30, "special_care": 7}
    assert store.open_case_for_caller("+3225551234", T0 + timedelta(days=29), windows) is not None
    assert store.open_case_for_caller("+3225551234", T0 + timedelta(days=31), windows) is None
    assert store.open_case_for_caller("+3225551234", T0 + timedelta(days=1), {"special_care": 7}) is None


def test_repeat_caller_prefers_the_live_case_over_a_recently_closed_one(store: Store) -> None:
    closed = open_test_case(store, at=T0)
    store.close_case(closed.id, "ok", at=T0 + timedelta(hours=1))
    live = open_test_case(store, team="security", at=T0 + timedelta(hours=2))
    found = store.open_case_for_caller("+3225551234", T0 + timedelta(hours=3), {"special_care": 30})
    assert found is not None and found.id == live.id


def test_withheld_number_never_matches_another_withheld_caller(store: Store) -> None:
    open_test_case(store, caller="")
    open_test_case(store, caller="  ")
    assert store.open_case_for_caller("", T0, {"special_care": 30}) is None
    assert store.open_case_for_caller("  ", T0, {"special_care": 30}) is None


# ------------------------------------------------------------------ agent pauses


def test_pause_becomes_due_at_resume_time_and_leaves_once_resumed(store: Store) -> None:
    case = open_test_case(store)
    pause = store.record_pause(agent="PJSIP/anna", queues=["support", "billing"], reason="abuse case",
                               paused_at=T0, resume_at=T0 + timedelta(minutes=10), case_id=case.id)
    assert (pause.queues, pause.reason, pause.case_id, pause.resumed_at) == (
        ("support", "billing"), "abuse case", case.id, None)
    assert store.due_pauses(T0 + timedelta(minutes=9)) == []
    assert store.due_pauses(T0 + timedelta(minutes=10)) == [pause]
    assert store.active_pauses() == [pause]
    store.mark_resumed(pause.id, at=T0 + timedelta(minutes=10, seconds=1))
    store.mark_resumed(pause.id, at=T0 + timedelta(hours=5))  # idempotent: the first time stays
    assert store.due_pauses(T0 + timedelta(days=1)) == []
    assert store.active_pauses() == []


def test_pauses_survive_a_restart_and_are_due_after_it(store_url: str) -> None:
    before = open_store(store_url)
    pause = before.record_pause(agent="PJSIP/anna", queues=["support"], reason="abuse", paused_at=T0,
                                resume_at=T0 + timedelta(minutes=5))
    before.close()
    after = open_store(store_url)
    assert [p.id for p in after.due_pauses(T0 + timedelta(hours=1))] == [pause.id]
    after.close()


def test_pause_without_resume_time_is_never_due_but_is_active(store: Store) -> None:
    pause = store.record_pause(agent="a", queues=["q"], reason="until talked to", paused_at=T0, resume_at=None)
    assert store.due_pauses(T0 + timedelta(days=365)) == []
    assert store.active_pauses() == [pause]


def test_resuming_an_unknown_pause_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.mark_resumed(9)


# ------------------------------------------------------------------ reports


def test_compliments_per_agent_counts_partial_ones_and_averages_the_rated(store: Store) -> None:
    for rating in (5, 4, None):
        cid = store.start_compliment("c", agent="anna", queue="support", campaign=None, at=T0)
        if rating is not None:
            store.set_compliment_rating(cid, rating)
    store.set_compliment_recording(store.start_compliment("c", agent="bert", queue="support", campaign=None,
                                                          at=T0 + timedelta(days=40)), "x.wav")
    anna, bert = store.compliments_per_agent()
    assert (anna.agent, anna.compliments, anna.rated, anna.average_rating, anna.with_recording) == (
        "anna", 3, 2, 4.5, 0)
    assert (bert.agent, bert.compliments, bert.rated, bert.average_rating, bert.with_recording) == (
        "bert", 1, 0, None, 1)
    assert [r.agent for r in store.compliments_per_agent(since=T0 + timedelta(days=1))] == ["bert"]
    assert [r.agent for r in store.compliments_per_agent(until=T0 + timedelta(days=1))] == ["anna"]


def test_incident_counts_group_by_any_dimensions(store: Store) -> None:
    flag(store, "c1", "verbal", 0, team="special_care")
    flag(store, "c1", "verbal", 60, team="special_care", outcome="disconnect")
    flag(store, "c2", "threat", 0, team="security")
    late = datetime(2025, 3, 31, 22, 30, tzinfo=timezone.utc)  # 1 April 00:30 in Brussels
    flag(store, "c3", "verbal", 0, team="special_care", queue="billing", caller="1", at=late)

    by_category = {(r.category, r.count) for r in store.incident_counts(["category"])}
    assert by_category == {("verbal", 3), ("threat", 1)}
    assert [(r.team, r.queue, r.count) for r in store.incident_counts(["team", "queue"])] == [
        ("security", "support", 1), ("special_care", "billing", 1), ("special_care", "support", 2)]
    assert [(r.outcome, r.count) for r in store.incident_counts(["outcome"])] == [("disconnect", 1), ("warn", 3)]
    assert [(r.month, r.count) for r in store.incident_counts(["month"])] == [("2025-03", 4)]
    brussels = store.incident_counts(["month"], tz=ZoneInfo("Europe/Brussels"))
    assert [(r.month, r.count) for r in brussels] == [("2025-03", 3), ("2025-04", 1)]
    assert [r.count for r in store.incident_counts([], since=T0 + timedelta(seconds=30))] == [2]
    assert store.incident_counts(["category"], until=T0) == []
    with pytest.raises(ValueError, match="cannot group"):
        store.incident_counts(["agent"])  # type: ignore[list-item]
