"""Aftercare without Asterisk: the aftercare section and check_in refused with file:line:col, rosters by the
clock, the store's check-ins on SQLite and PostgreSQL (claims, tries, the timeline, pause extensions, the
report), and the keeper's order of people, retry and missed check-in with a scripted phone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from agi_scripts.config.settings import AmiSettings
from agi_scripts.flows.abuse_policy import load_abuse_policy
from agi_scripts.flows.aftercare import OnDuty
from agi_scripts.ground.errors import ConfigError
from agi_scripts.policy.checkins import CheckInKeeper, TryResult
from agi_scripts.storage import Store
from agi_scripts.storage.base import CaseToOpen, Escalation, PauseToBook
from agi_scripts.storage.checkins import CheckIn, CheckInBook, CheckInToBook
from tests.support.cli_runner import Cli
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import PROJECT, ConfigTree

POLICY = "flows/abuse_policy.yaml"
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


# ------------------------------------------------------------------ the flow file


def test_the_shipped_policy_has_a_duty_roster_and_check_ins_on_the_disconnect_rungs() -> None:
    errors: list[ConfigError] = []
    policy = load_abuse_policy(PROJECT / POLICY, errors)
    assert errors == []
    duty = policy.aftercare.rosters["duty"]
    assert [p.endpoint for p in duty.people] == ["PJSIP/lead1", "PJSIP/lead2"]
    threat = policy.categories["threat"].rung(1)
    [check_in] = [a for a in threat if a.kind == "check_in"]
    assert (check_in.roster, check_in.seconds) == ("duty", 600.0)
    assert not [a for a in policy.categories["verbal_abuse"].rung(1) if a.kind == "check_in"]  # a warning: none
    assert policy.aftercare.agent_line is not None and policy.aftercare.agent_line.code == "*89"
    assert {"checkin_summary", "agent_line_menu"} <= policy.prompt_ids()


@pytest.mark.parametrize(("old", "new", "message", "needle"), [
    ("- check_in: {within: 10m, roster: duty}", "- check_in: {within: 10m, roster: dutty}", "unknown roster 'dutty'",
     "roster: dutty"),
    ("- check_in: {within: 10m, roster: duty}", "- check_in: {within: 5s, roster: duty}", "out of range", "within: 5s"),
    ("- check_in: {within: 10m, roster: duty}", "- check_in: {roster: duty}", "missing", "check_in: {roster"),
    ("endpoint: PJSIP/lead1 ", "endpoint: PJSIP/lead1&PJSIP/boss ", "is not a phone endpoint", "PJSIP/lead1&"),
    ("endpoint: PJSIP/lead2", "endpoint: PJSIP/lead1", "is on roster 'duty' twice", "name: Deputy team lead"),
    ("languages: [nl, en]", "languages: [nl, english]", "not a two-letter language code", "english"),
    ("          # hours: [", "          hours: [\"25:00-26:00\"]\n          # hours: [", "impossible time",
     "25:00-26:00"),
    ("          # days: [", "          days: [monday]\n          # days: [", "not a valid day", "days: [monday]"),
    ('code: "*89"', 'code: "*8x9"', "is not a number agents dial", '"*8x9"'),
    ("      ring_for: 20s", "      ring_for: 2s", "out of range", "ring_for: 2s"),
    ("      roster: duty           # key 3", "      roster: nobody           # key 3", "unknown roster 'nobody'",
     "roster: nobody"),
    ('      code: "*4"', '      code: "*1"', "clashes with 'verbal_abuse'", 'code: "*1"             # an agent code'),
    ('      code: "*4"', '      code: "*"', "clashes with 'threat'", 'code: "*"             # an agent code'),
    ("      within: 60s", "      within: 2s", "out of range", "within: 2s"),
])
def test_broken_aftercare_values_are_refused_with_their_place(config_tree: ConfigTree, old: str, new: str,
                                                              message: str, needle: str) -> None:
    config_tree.replace(POLICY, old, new)
    error = only(errors_of(config_tree), message)
    assert error.file.name == "abuse_policy.yaml"
    assert error.line == config_tree.line_of(POLICY, needle), str(error)
    assert error.column >= 1


def test_an_empty_roster_and_a_second_check_in_on_a_rung_are_refused(config_tree: ConfigTree) -> None:
    config_tree.replace(POLICY, "      duty:                                    # rung in this order",
                        "      empty: []\n      duty:                                    # rung in this order")
    config_tree.replace(POLICY, "          - check_in: {within: 10m, roster: duty}\n",
                        "          - check_in: {within: 10m, roster: duty}\n          - check_in: {within: 5m, roster: duty}\n")
    errors = errors_of(config_tree)
    assert only(errors, "has nobody on it").line == config_tree.line_of(POLICY, "empty: []")
    assert "more than once" in only(errors, "check_in more than once").message


def test_who_is_on_duty_follows_days_hours_and_the_call_language() -> None:
    morning = OnDuty("Ann", "PJSIP/ann", hours=((dt.time(8), dt.time(12)),), days=(0, 1, 2, 3, 4), languages=("nl",))
    always = OnDuty("Bo", "PJSIP/bo", languages=("fr", "en"))
    monday_9, monday_13, sunday_9 = (dt.datetime(2026, 3, 2, 9), dt.datetime(2026, 3, 2, 13), dt.datetime(2026, 3, 1, 9))
    assert morning.on_duty(monday_9) and not morning.on_duty(monday_13) and not morning.on_duty(sunday_9)
    assert always.on_duty(sunday_9)
    assert (always.language("en", "nl"), always.language("nl", "nl"), morning.language("fr", "en")) == ("en", "fr", "nl")
    from agi_scripts.flows.aftercare import Roster
    roster = Roster("duty", (morning, always))
    assert [p.name for p in roster.on_duty(monday_9)] == ["Ann", "Bo"]
    assert [p.name for p in roster.on_duty(monday_9, "fr")] == ["Bo", "Ann"]  # a French call: the French speaker first
    assert [p.name for p in roster.on_duty(monday_13)] == ["Bo"]


# ------------------------------------------------------------------ the store (SQLite and PostgreSQL)


def _threat(store: Store, call_id: str = "c1", at: dt.datetime = T0) -> tuple[int, int]:
    booked = store.book_escalation(Escalation(
        call_id=call_id, category="threat", number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32470000001", queue="support", at=at, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1),
        pause=PauseToBook(agent="PJSIP/agent1", reason="recovery", resume_at=at + dt.timedelta(minutes=15))))
    assert booked.case_id is not None
    return booked.incident_id, booked.case_id


def _ask(book: CheckInBook, incident_id: int, case_id: int, call_id: str = "c1", at: dt.datetime = T0) -> int | None:
    return book.request(CheckInToBook(call_id=call_id, agent="Agent One", agent_endpoint="PJSIP/agent1",
                                      category="threat", roster="duty", language="en", within=600, at=at,
                                      incident_id=incident_id, case_id=case_id))


def test_a_check_in_is_claimed_once_tried_and_finished_on_the_case_timeline(store: Store) -> None:
    incident_id, case_id = _threat(store)
    book = CheckInBook(store)
    check_in_id = _ask(book, incident_id, case_id)
    assert check_in_id is not None
    assert _ask(book, incident_id, case_id) is None  # the same incident again (a retry): one check-in
    [claimed] = book.claim_due("server-a", now=T0 + dt.timedelta(seconds=1))
    assert book.claim_due("server-b", now=T0 + dt.timedelta(seconds=2)) == []  # one server rings, not two
    assert (claimed.id, claimed.status, claimed.language, claimed.case_id) == (check_in_id, "ringing", "en", case_id)
    book.add_try(claimed, "Team lead", "PJSIP/lead1", "no_answer", "Team lead did not answer", at=T0 + dt.timedelta(seconds=30))
    book.add_try(claimed, "Deputy", "PJSIP/lead2", "connected", "Deputy was connected", at=T0 + dt.timedelta(seconds=60))
    book.finish(claimed, "connected", "Deputy", "Deputy was connected to Agent One", at=T0 + dt.timedelta(seconds=60))
    case = store.get_case(case_id)
    assert case is not None
    steps = [(e.action, e.author) for e in case.events if e.action.startswith("check_in")]
    assert steps == [("check_in_requested", None), ("check_in_no_answer", "Team lead"), ("check_in_connected", "Deputy")]
    done = book.get(check_in_id)
    assert done is not None and (done.status, done.outcome, done.done_by) == ("done", "connected", "Deputy")
    assert book.claim_due("server-a", now=T0 + dt.timedelta(hours=1)) == []
    with pytest.raises(ValueError):
        book.finish(claimed, "whatever", None, "")


def test_a_claim_left_by_a_dead_server_is_taken_over_later(store: Store) -> None:
    incident_id, case_id = _threat(store)
    book = CheckInBook(store)
    _ask(book, incident_id, case_id)
    assert len(book.claim_due("dead", now=T0)) == 1
    assert book.claim_due("alive", now=T0 + dt.timedelta(minutes=5)) == []
    assert len(book.claim_due("alive", now=T0 + dt.timedelta(minutes=11))) == 1


def test_try_again_later_and_missed(store: Store) -> None:
    incident_id, case_id = _threat(store)
    book = CheckInBook(store)
    _ask(book, incident_id, case_id)
    [claimed] = book.claim_due("s", now=T0)
    book.try_again_at(claimed, T0 + dt.timedelta(minutes=1))
    assert book.claim_due("s", now=T0 + dt.timedelta(seconds=59)) == []
    [again] = book.claim_due("s", now=T0 + dt.timedelta(minutes=1))
    book.finish(again, "missed", None, "nobody on duty took it in time")
    missed = book.get(again.id)
    assert missed is not None and (missed.status, missed.outcome) == ("missed", "missed")


def test_the_agent_extends_their_pause_or_ends_it(store: Store) -> None:
    _, case_id = _threat(store)
    book = CheckInBook(store)
    extended = book.extend_pause("PJSIP/agent1", 600, now=T0 + dt.timedelta(minutes=1))
    assert extended.resume_at == T0 + dt.timedelta(minutes=25)
    [pause] = store.active_pauses()
    assert pause.resume_at == T0 + dt.timedelta(minutes=25)
    assert store.due_pauses(T0 + dt.timedelta(minutes=16)) == []  # the keeper leaves it until the new end
    case = store.get_case(case_id)
    assert case is not None and "pause_extended" in [e.action for e in case.events]
    assert book.end_pauses("PJSIP/agent1", now=T0 + dt.timedelta(minutes=2)) == 1
    assert store.active_pauses() == []
    # Without a pause in force, "extend" starts one (the agent asked for all of it).
    fresh = book.extend_pause("PJSIP/agent2", 300, now=T0)
    assert (fresh.agent, fresh.resume_at) == ("PJSIP/agent2", T0 + dt.timedelta(minutes=5))


def test_report_aftercare_never_shows_a_caller_number(store: Store, cli: Cli, config_tree: ConfigTree) -> None:
    incident_id, case_id = _threat(store)
    book = CheckInBook(store)
    _ask(book, incident_id, case_id)
    [claimed] = book.claim_due("s", now=T0)
    book.add_try(claimed, "Team lead", "PJSIP/lead1", "no_answer", "", at=T0 + dt.timedelta(minutes=1))
    book.add_try(claimed, "Deputy", "PJSIP/lead2", "acknowledged", "", at=T0 + dt.timedelta(minutes=3))
    book.finish(claimed, "acknowledged", "Deputy", "", at=T0 + dt.timedelta(minutes=3))
    book.extend_pause("PJSIP/agent1", 600, now=T0 + dt.timedelta(minutes=5))
    rows = cli.json("report", "aftercare")
    assert isinstance(rows, list)
    [row] = rows
    assert (row["agent"], row["category"], row["check_in_by"], row["outcome"], row["tries_before"]) == (
        "Agent One", "threat", "Deputy", "acknowledged", 1)
    assert (row["minutes_to_check_in"], row["pause_minutes"], row["extended_minutes"]) == (3.0, 25.0, 10.0)
    assert row["flagged_at"].startswith("2026-03-02T11:00")  # Brussels time
    table = cli.ok("report", "aftercare")
    for text in (json.dumps(rows), table, cli.ok("report", "aftercare", "--format", "csv")):
        assert "+32470000001" not in text and "0470000001" not in text
    assert "Deputy" in table
    assert json.loads(cli.ok("report", "aftercare", "--since", "2026-03-03", "--format", "json")) == []


# ------------------------------------------------------------------ the keeper's order, with a scripted phone


class ScriptedKeeper(CheckInKeeper):
    """The keeper with each person's phone scripted: no AMI, no Asterisk."""

    def __init__(self, store: Store, answers: dict[str, str], retry_after: float = 60.0) -> None:
        errors: list[ConfigError] = []
        policy = load_abuse_policy(PROJECT / POLICY, errors)
        assert errors == []
        timings = policy.aftercare.check_in
        import dataclasses
        policy = dataclasses.replace(policy, aftercare=dataclasses.replace(
            policy.aftercare, check_in=dataclasses.replace(timings, retry_after=retry_after)))
        super().__init__(store, AmiSettings(username="rl", secret="x"), policy, timezone=dt.timezone.utc,
                         default_language="nl", languages=("nl", "fr", "en"))
        self.answers, self.rung = answers, []  # type: list[str]
        self.call_up = True
        self.told_nobody: list[str] = []

    def call_is_up(self, channel: str) -> bool:
        return self.call_up

    def tell_nobody_is_free(self, check_in: CheckIn) -> None:
        self.told_nobody.append(check_in.spy_channel)

    def ring(self, check_in: CheckIn, person: OnDuty) -> TryResult:
        self.rung.append(person.endpoint)
        return TryResult(self.answers.get(person.endpoint, "no_answer"), f"{person.name}: scripted")


def test_the_keeper_rings_in_order_until_someone_takes_it(store: Store) -> None:
    incident_id, case_id = _threat(store, at=dt.datetime.now(dt.timezone.utc))
    keeper = ScriptedKeeper(store, {"PJSIP/lead2": "acknowledged"})
    _ask(keeper.book, incident_id, case_id, at=dt.datetime.now(dt.timezone.utc))
    [claimed] = keeper.book.claim_due(keeper.worker)
    keeper.work(claimed)
    assert keeper.rung == ["PJSIP/lead1", "PJSIP/lead2"]
    done = keeper.book.get(claimed.id)
    assert done is not None and (done.outcome, done.done_by) == ("acknowledged", "Deputy team lead")


def test_nobody_answers_the_round_waits_then_the_check_in_is_missed(store: Store) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    incident_id, case_id = _threat(store, at=now)
    keeper = ScriptedKeeper(store, {}, retry_after=5.0)
    keeper.book.request(CheckInToBook(call_id="c1", agent="Agent One", agent_endpoint="PJSIP/agent1",
                                      category="threat", roster="duty", language="en", within=30, at=now,
                                      incident_id=incident_id, case_id=case_id))
    [claimed] = keeper.book.claim_due(keeper.worker)
    keeper.work(claimed)
    assert keeper.rung == ["PJSIP/lead1", "PJSIP/lead2"]
    waiting = keeper.book.get(claimed.id)
    assert waiting is not None and waiting.status == "waiting"  # again after retry_after
    [later] = keeper.book.claim_due(keeper.worker, now=now + dt.timedelta(seconds=31))
    later = CheckIn(**{**later.__dict__, "due_at": now - dt.timedelta(seconds=1)})  # its time is up
    keeper.work(later)
    missed = keeper.book.get(claimed.id)
    assert missed is not None and missed.status == "missed"
    case = store.get_case(case_id)
    assert case is not None and [e.action for e in case.events if e.action.startswith("check_in")][-1] == "check_in_missed"


def test_without_ami_the_keeper_claims_nothing(store: Store) -> None:
    incident_id, case_id = _threat(store)
    keeper = ScriptedKeeper(store, {})
    keeper.ami = AmiSettings()
    _ask(keeper.book, incident_id, case_id)
    assert keeper.claim_round() == 0
    assert len(keeper.book.claim_due("other", now=T0 + dt.timedelta(seconds=1))) == 1  # still waiting for someone


def test_a_roster_removed_from_the_flows_misses_the_check_in_when_its_time_is_up(store: Store, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    incident_id, case_id = _threat(store, at=now)
    keeper = ScriptedKeeper(store, {})
    keeper.book.request(CheckInToBook(call_id="c1", agent="Agent One", agent_endpoint="PJSIP/agent1", category="threat",
                                      roster="gone", language="en", within=30, at=now - dt.timedelta(seconds=40),
                                      incident_id=incident_id, case_id=case_id))
    [claimed] = keeper.book.claim_due(keeper.worker)
    keeper.work(claimed)
    assert keeper.rung == []
    found = keeper.book.get(claimed.id)
    assert found is not None and found.status == "missed"


def _listen_in(keeper: ScriptedKeeper) -> CheckIn:
    keeper.book.request(CheckInToBook(call_id="c9", agent="Agent One", agent_endpoint="PJSIP/agent1",
                                      category="listen_in", roster="duty", language="en", within=60,
                                      at=dt.datetime.now(dt.timezone.utc), reason="listen_in",
                                      spy_channel="PJSIP/agent1-0000002a"))
    [claimed] = keeper.book.claim_due(keeper.worker)
    return claimed


def test_a_listen_in_nobody_takes_is_missed_after_one_round_and_the_agent_is_told(store: Store) -> None:
    keeper = ScriptedKeeper(store, {})
    claimed = _listen_in(keeper)
    keeper.work(claimed)
    assert keeper.rung == ["PJSIP/lead1", "PJSIP/lead2"]  # one round only: the call is going on now
    assert keeper.told_nobody == ["PJSIP/agent1-0000002a"]
    found = keeper.book.get(claimed.id)
    assert found is not None and found.status == "missed"


def test_a_listen_in_whose_call_ended_rings_nobody(store: Store) -> None:
    keeper = ScriptedKeeper(store, {"PJSIP/lead1": "connected"})
    keeper.call_up = False
    claimed = _listen_in(keeper)
    keeper.work(claimed)
    assert keeper.rung == [] and keeper.told_nobody == []
    found = keeper.book.get(claimed.id)
    assert found is not None and found.status == "missed"


def test_the_doctor_asks_for_chanspy_read_and_dial_only_when_the_flows_use_aftercare(config_tree: ConfigTree) -> None:
    from agi_scripts.config.bundle import load_bundle
    from agi_scripts.doctor import checks

    shipped = load_bundle(config_tree.config)
    missing = checks.check_aftercare_modules({"app_queue"}, shipped)
    assert sorted(f.message.split(".so")[0] for f in missing) == ["app_chanspy", "app_dial", "app_read"]
    assert checks.check_aftercare_modules({"app_chanspy", "app_dial", "app_read"}, shipped) == []
    # Without the aftercare section (and the rungs' check_in, which would name its roster): nothing asked.
    text = config_tree.path(POLICY).read_text()
    without = "".join(line for line in text.splitlines(keepends=True) if "check_in:" not in line or "#" in line)
    config_tree.path(POLICY).write_text(without[:without.index("  aftercare:\n")] + without[without.index("  teams:\n"):])
    assert checks.check_aftercare_modules(set(), load_bundle(config_tree.config)) == []
