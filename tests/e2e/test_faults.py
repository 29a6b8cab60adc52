"""Faults injected under a real Asterisk with real SIP phones: the agent who presses a code stays
protected whatever fails, nothing is reported as done that was not, and once the fault clears the
store holds the case, its events and the pause exactly once.

Two stacks, one per store backend, each started once for the tests that need it (the ``stack``
fixture is parametrized per test with ``on_postgresql`` / ``on_sqlite``; pytest runs each group
together):

- PostgreSQL (a private cluster: this module stops and starts it) stopped during ``*1``, ``*1`` and,
  on another call, ``*2``;
- SQLite: the recordings share read-only, full, or a FIFO where the evidence file goes; AMI down or
  hung; hostile FastAGI peers flooding the server while a real call is flagged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.sandbox.audio import contains_prompt, find_prompt_times
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage.base import Case, utc_now
from agi_scripts.storage.open import open_store
from tests.support.calls import agent_paused, connect, shorten_pauses
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started
from tests.support.postgres_server import PostgresServer, running_cluster

pytestmark = pytest.mark.e2e

PAUSE_SECONDS = {"postgresql": 15, "sqlite": 6}
"""Recovery pauses of the shipped ladder, shortened. On PostgreSQL, the first call's pause ends while
the database is still down (during the second call), the second call's after it is started again."""
DEDUPE_WINDOW = 3.0
"""``abuse_policy.dedupe_window`` of the shipped ladder."""
KEEPER_INTERVAL = 5.0
"""The server's pause keeper runs every 5 s (policy/pauses.py)."""
ON_TIME = KEEPER_INTERVAL + 3.0
"""A pause is lifted at most one keeper round (and a little scheduling) after it is due."""
PROMPT_DELAY = 1.5
"""Longest time from the agent's key press to the first audio of the prompt at the caller.
Normally ~0.3 s; a server stalled by a hostile peer took many seconds (issue 12)."""

on_postgresql = pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
on_sqlite = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


# ---------------------------------------------------------------------------------------- stacks

@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster of this module's own: stopping the session's shared one would break other tests."""
    with running_cluster() as server:
        yield server


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"faults-{backend}")
    flows = demo_flows(folder, ALWAYS_ON_CAMPAIGNS)
    shorten_pauses(flows, PAUSE_SECONDS[backend])
    db_url = None
    if backend == "postgresql":
        postgres: PostgresServer = request.getfixturevalue("private_postgres")
        db_url = postgres.create_database("rl_faults")
    options = StackOptions(agents={"agent1": ["support"], "agent2": ["billing"]},
                           agent_names={"agent1": "Agent One", "agent2": "Agent Two"},
                           callers=tuple(f"caller{n}" for n in range(1, 8)), flows_dir=flows, db_url=db_url)
    running = started(options, folder)
    try:
        yield running
    finally:
        running.stop()


def a_caller(phones: SipPhoneSystem, number: int) -> SipCaller:
    """Caller ``caller<number>``, with a phone number of its own (``phone_number``): a case against one
    caller routes that caller's next call to the team, so no two tests share one."""
    return phones.caller(f"caller{number}", caller_id_name=f"Caller {number}",
                         caller_id_number=phone_number(f"caller{number}"))


def phone_number(username: str) -> str:
    return "+3247123450" + username.removeprefix("caller")


def agent_two(phones: SipPhoneSystem) -> SipAgent:
    agent = phones.agent("agent2", ring_delay=0.3)
    phones.wait_until(lambda: agent.registered, 10, "agent2 registered")
    return agent


# ---------------------------------------------------------------------------------------- helpers

def channel_uniqueid(stack: RespectlineStack, endpoint: str) -> str:
    """Asterisk's uniqueid of ``endpoint``'s channel: the flag's call id (it runs on the caller's channel)."""
    for line in stack.asterisk.rx("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0].startswith(f"PJSIP/{endpoint}-") and len(fields) >= 14:
            return fields[13].strip()
    raise AssertionError(f"no channel of {endpoint}")


def flag_lines(stack: RespectlineStack, uniqueid: str) -> list[str]:
    """The server's one line per flag session of this call, in order."""
    return [line for line in stack.server_log.read_text(errors="replace").splitlines()
            if "script=flag" in line and f"uniqueid={uniqueid} " in line]


def wait_for_flags(phones: SipPhoneSystem, stack: RespectlineStack, uniqueid: str, count: int,
                   timeout: float = 30) -> list[str]:
    """Until the server has finished ``count`` flag sessions of the call (the next press may follow)."""
    phones.wait_until(lambda: len(flag_lines(stack, uniqueid)) >= count, timeout,
                      f"flag session {count} of {uniqueid} finished", interval=0.2)
    return flag_lines(stack, uniqueid)


def after_the_dedupe_window(phones: SipPhoneSystem) -> None:
    """The shipped ladder counts the same code pressed again within 3 s of the end of the last flag's
    handling once (``dedupe_window``): the agent's next press comes after that."""
    phones.pump(DEDUPE_WINDOW + 0.5)


def hung_up_after(phones: SipPhoneSystem, caller: SipCaller, agent: SipAgent, timeout: float = 30) -> None:
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, timeout, "caller disconnected by the ladder")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
    phones.pump(0.3)  # the caller's recording is finished


def heard(stack: RespectlineStack, caller: SipCaller, prompt: str) -> bool:
    assert caller.last_recording is not None
    return contains_prompt(caller.last_recording, stack.prompt_file(prompt, "en")).matched


QUEUE_OF = {"agent1": "support", "agent2": "billing"}


def is_paused(stack: RespectlineStack, agent: str) -> bool:
    return agent_paused(stack.asterisk, QUEUE_OF[agent], agent)


def wait_paused(phones: SipPhoneSystem, stack: RespectlineStack, agent: str, paused: bool, timeout: float) -> float:
    """Until ``agent`` is (un)paused in Asterisk; returns when (monotonic)."""
    phones.wait_until(lambda: is_paused(stack, agent) is paused, timeout,
                      f"{agent} {'paused' if paused else 'unpaused'}", interval=0.25)
    return time.monotonic()


def server_log(stack: RespectlineStack) -> str:
    return stack.server_log.read_text(errors="replace")


def pause_rows(db_url: str) -> list[tuple[str, dt.datetime, dt.datetime | None, int | None]]:
    """Every pause the store holds, lifted or not: (agent, resume_at, resumed_at, case id)."""
    query = "SELECT agent, resume_at, resumed_at, case_id FROM agent_pauses ORDER BY id"
    if db_url.startswith("postgresql://"):
        with psycopg.connect(db_url, connect_timeout=5) as db:
            return [(agent, resume, resumed, case) for agent, resume, resumed, case in db.execute(query)]
    with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=5)) as lite:
        return [(agent, dt.datetime.fromisoformat(resume), dt.datetime.fromisoformat(resumed) if resumed else None, case)
                for agent, resume, resumed, case in lite.execute(query)]


def cases_of(db_url: str, caller: str) -> list[Case]:
    store = open_store(db_url)
    try:
        return [case for case in store.list_cases() if case.caller == caller]
    finally:
        store.close()


def assert_lifted_on_time(db_url: str, case_id: int, not_before: dt.datetime | None = None) -> None:
    """The case's pause is in the store once, never lifted before it is due, and lifted within one
    keeper round of being due, or of ``not_before`` when the keeper could not act earlier (AMI was
    down; the flag was still being handled: the keeper leaves a flag alone until its call has booked
    it, and the tests' pauses are shorter than a closing prompt)."""
    [(_, resume_at, resumed_at, _)] = [row for row in pause_rows(db_url) if row[3] == case_id]
    assert resumed_at is not None, f"the pause of case {case_id} is not marked as lifted"
    latest = max(resume_at, not_before) if not_before else resume_at
    assert resume_at - dt.timedelta(seconds=0.5) <= resumed_at <= latest + dt.timedelta(seconds=ON_TIME), \
        (resume_at, resumed_at, not_before)


def logged_at(line: str) -> dt.datetime:
    """When the server wrote a log line (its local time, as logging's asctime)."""
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone(dt.timezone.utc)


# ------------------------------------------------------------------------- PostgreSQL stopped

@on_postgresql
def test_with_postgresql_stopped_the_agent_is_protected_and_every_flag_is_booked_once_when_it_is_back(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, private_postgres: PostgresServer) -> None:
    pause = PAUSE_SECONDS["postgresql"]
    second_agent = agent_two(phones)
    caller, other_caller = a_caller(phones, 1), a_caller(phones, 2)
    connect(phones, caller, agent, stack.number("support"))
    first_call = channel_uniqueid(stack, "caller1")
    phones.pump(1.0)

    private_postgres.halt()
    halted = True
    try:
        agent.press("*1")  # 1st verbal abuse: the recording notice and the warning
        [warned] = wait_for_flags(phones, stack, first_call, 1)
        assert caller.state is PeerState.CONNECTED
        after_the_dedupe_window(phones)
        agent.press("*1")  # 2nd: the closing, the call ends, a Special Care case, the agent paused
        wait_paused(phones, stack, "agent1", True, 5)
        hung_up_after(phones, caller, agent)
        [_, closed] = wait_for_flags(phones, stack, first_call, 2)
        assert heard(stack, caller, "abuse_warning") and heard(stack, caller, "abuse_closing")

        # Another call while the database is still down: a threat ends it at once.
        connect(phones, other_caller, second_agent, stack.number("billing"))
        second_call = channel_uniqueid(stack, "caller2")
        phones.pump(0.5)
        second_agent.press("*2")
        wait_paused(phones, stack, "agent2", True, 10)  # after the recording notice
        hung_up_after(phones, other_caller, second_agent)
        [threat] = wait_for_flags(phones, stack, second_call, 1)
        assert heard(stack, other_caller, "abuse_closing_threat")

        for line in (warned, closed, threat):
            assert "store=down" in line and "case_opened" not in line, line
        assert "actions=recording,warn store=down" in warned
        assert "case_held" in closed and "case_held" in threat

        # The first pause comes due while the database is still down: lifted from the outbox.
        wait_paused(phones, stack, "agent1", False, pause + ON_TIME)
        assert "recovery pause of PJSIP/agent1 ended; its flag still waits in the outbox" in server_log(stack)
        private_postgres.resume()
        back = time.monotonic()
        halted = False
    finally:
        if halted:
            private_postgres.resume()

    # The keeper books the three flags from the outbox; the second pause ends on time.
    phones.wait_until(lambda: server_log(stack).count("booked late, from the outbox") == 3, 60,
                      "the flags booked from the outbox", interval=0.5)
    booked = time.monotonic()
    print(f"\nthe flags held in the outbox were booked {booked - back:.0f} s after PostgreSQL was started again")
    wait_paused(phones, stack, "agent2", False, pause + ON_TIME)
    # Two more rounds of the keeper: nothing is booked twice.
    phones.pump(max(0.0, booked + 2 * KEEPER_INTERVAL + 1 - time.monotonic()))

    store = open_store(stack.db_url)
    try:
        cases = {case.category: case for case in store.list_cases()}
        incidents = [(i.call_id, i.number_in_call, i.action, i.case_id) for i in store.list_incidents()]
        assert store.active_pauses() == []
    finally:
        store.close()
    assert sorted(cases) == ["threat", "verbal_abuse"]
    abuse, threat_case = cases["verbal_abuse"], cases["threat"]
    assert (abuse.team, abuse.call_id, abuse.agent, abuse.caller) == ("special_care", first_call, "Agent One", "+32471234501")
    assert (threat_case.team, threat_case.call_id, threat_case.agent) == ("security", second_call, "Agent Two")
    assert protection_steps(abuse) == ["warn", "case_opened", "agent_paused", "disconnect"]
    assert protection_steps(threat_case) == ["case_opened", "agent_paused", "disconnect"]
    assert abuse.recording and Path(abuse.recording).stat().st_size > 0  # the evidence started at the first flag
    assert sorted(incidents) == sorted([(first_call, 1, "warn", None), (first_call, 2, "disconnect", abuse.id),
                                        (second_call, 1, "disconnect", threat_case.id)])
    assert sorted(row[0] for row in pause_rows(stack.db_url)) == ["PJSIP/agent1", "PJSIP/agent2"]
    assert_lifted_on_time(stack.db_url, abuse.id)
    assert_lifted_on_time(stack.db_url, threat_case.id)
    assert not is_paused(stack, "agent1") and not is_paused(stack, "agent2")
    assert list(stack.bundle.settings.spool_dir.iterdir()) == []
    log = server_log(stack)
    assert log.count("booked late, from the outbox") == 3  # once per flag
    assert "case_opened" not in log  # no case was stored during the calls, and none is claimed


# ---------------------------------------------------------------- the recordings share broken

def can_mount() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs over ``folder`` (root only), unmounted afterwards (lazily if Asterisk still holds
    a file on it)."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "rl-faults", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the share fault needs it")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fill(folder: Path) -> None:
    """Write a file until the file system says it is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The recordings share read-only. As root, ``chmod 0555`` stops nothing (root writes anyway, and
    Asterisk runs as root here): an empty tmpfs mounted read-only in its place makes mkdir fail with
    EROFS for everyone, as a share mounted ``ro`` does. Unprivileged, the mode bits do it."""
    if can_mount():
        with tmpfs(folder, "ro,size=64k,mode=0755"):
            yield
        return
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(mode)


def evidence_month(recordings: Path) -> Path:
    """The folder today's evidence goes to (``handlers/recordings.evidence_file``: the UTC month)."""
    now = utc_now()
    return recordings / "evidence" / f"{now:%Y}" / f"{now:%m}"


@on_sqlite
def test_with_the_recordings_share_read_only_the_caller_is_warned_then_disconnected_without_a_recording(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 3)
    with read_only(stack.recordings_dir):
        connect(phones, caller, agent, stack.number("support"))
        uniqueid = channel_uniqueid(stack, caller.username)
        phones.pump(0.5)
        agent.press("*1")
        [warned] = wait_for_flags(phones, stack, uniqueid, 1)
        assert caller.state is PeerState.CONNECTED
        after_the_dedupe_window(phones)
        agent.press("*1")
        wait_paused(phones, stack, "agent1", True, 5)
        hung_up_after(phones, caller, agent)
        [_, closed] = wait_for_flags(phones, stack, uniqueid, 2)
    assert heard(stack, caller, "abuse_warning") and heard(stack, caller, "abuse_closing")
    case = protected_and_booked(phones, stack, caller, uniqueid, "special_care",
                                ["warn", "case_opened", "agent_paused", "disconnect"], closed)
    assert "actions=warn " in warned, warned
    no_recording_claimed(stack, caller, case, closed, "Read-only file system" if can_mount() else "Permission denied")


@on_sqlite
def test_with_the_recordings_share_full_a_threat_still_disconnects_and_pauses_and_the_case_has_no_recording(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 4)
    # A full disk refuses a new folder (ext4 and NFS give a folder a block of its own). tmpfs gives
    # folders no blocks, so its inodes run out too: nothing more can be made on it.
    with tmpfs(stack.recordings_dir, "size=64k,nr_inodes=2,mode=0755") as share:
        fill(share)
        uniqueid, line = flag_and_disconnect(phones, stack, agent, caller)
    assert heard(stack, caller, "abuse_closing_threat")
    case = protected_and_booked(phones, stack, caller, uniqueid, "security", THREAT_EVENTS, line)
    no_recording_claimed(stack, caller, case, line, "No space left on device")


@on_sqlite
def test_with_the_recordings_share_full_after_this_month_began_no_empty_recording_is_claimed(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    """The rude twin: the month's folder exists, so mkdir succeeds and Asterisk's MixMonitor opens
    the file, but not one byte of the evidence can be written."""
    caller = a_caller(phones, 5)
    # Room for exactly one more file (root, filler, evidence/YYYY/MM, the recording), no byte left.
    with tmpfs(stack.recordings_dir, "size=64k,nr_inodes=6,mode=0755") as share:
        evidence_month(share).mkdir(parents=True)
        fill(share)
        uniqueid, line = flag_and_disconnect(phones, stack, agent, caller)
        sizes = [path.stat().st_size for path in evidence_month(share).iterdir()]
    assert heard(stack, caller, "abuse_closing_threat")
    case = protected_and_booked(phones, stack, caller, uniqueid, "security", THREAT_EVENTS, line)
    assert sizes in ([], [0])  # nothing of the call could be written
    no_recording_claimed(stack, caller, case, line, "No space left on device")


@on_sqlite
def test_with_a_fifo_where_the_evidence_file_goes_a_threat_still_disconnects_and_no_recording_is_claimed(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 6)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    fifo = evidence_month(stack.recordings_dir) / f"{uniqueid}.wav"
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    try:
        phones.pump(0.5)
        agent.press("*2")
        wait_paused(phones, stack, "agent1", True, 5)
        hung_up_after(phones, caller, agent)
        [line] = wait_for_flags(phones, stack, uniqueid, 1)
        phones.pump(0.5)
        left = stack.asterisk.channels()  # before the FIFO has a reader (in real life: never)
    finally:
        release_fifo(fifo)
    assert heard(stack, caller, "abuse_closing_threat")
    case = protected_and_booked(phones, stack, caller, uniqueid, "security", THREAT_EVENTS, line)
    assert left == [], f"channels kept up by a MixMonitor waiting for the FIFO: {left}"
    no_recording_claimed(stack, caller, case, line, fifo.name)


THREAT_EVENTS = ["case_opened", "agent_paused", "disconnect"]


def protection_steps(case: Case) -> list[str]:
    """The case's timeline without the aftercare that follows the protection (check_in_requested and
    the tries of the people on duty, tested in test_aftercare.py): these tests are about the protection."""
    return [e.action for e in case.events if not e.action.startswith("check_in")]


def flag_and_disconnect(phones: SipPhoneSystem, stack: RespectlineStack, agent: SipAgent, caller: SipCaller,
                        code: str = "*2") -> tuple[str, str]:
    """The caller reaches agent1, who flags a threat: (the call's id, the flag's log line)."""
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    phones.pump(0.5)
    agent.press(code)
    wait_paused(phones, stack, "agent1", True, 10)  # before the closing ends (after the recording notice, if any)
    hung_up_after(phones, caller, agent)
    [line] = wait_for_flags(phones, stack, uniqueid, 1)
    return uniqueid, line


def release_fifo(fifo: Path) -> None:
    """Open the FIFO's reading end (a writer blocked in open() goes on), drain it, remove it."""
    try:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        time.sleep(0.2)
        with contextlib.suppress(BlockingIOError):
            while os.read(reader, 65536):
                pass
    finally:
        os.close(reader)
        fifo.unlink(missing_ok=True)


def protected_and_booked(phones: SipPhoneSystem, stack: RespectlineStack, caller: SipCaller, uniqueid: str,
                         team: str, events: list[str], line: str) -> Case:
    """The flag did all the ladder says (the agent's pause lifted on time) and its case is stored once."""
    [case] = cases_of(stack.db_url, phone_number(caller.username))
    assert (case.call_id, case.team) == (uniqueid, team)
    assert protection_steps(case) == events
    assert_lifted(phones, stack, case.id, logged_at(line))
    return case


def no_recording_claimed(stack: RespectlineStack, caller: SipCaller, case: Case, line: str, problem: str) -> None:
    """Neither what the caller heard, the call's log line nor the case claim the recording that could
    not be made, and the server's log names the problem."""
    assert "recording" not in line.split("outcome=", 1)[1], line
    assert not heard(stack, caller, "recording_notice")  # the caller is not told of a recording that is not made
    assert case.recording is None, f"the case claims a recording: {case.recording}"
    errors = [entry for entry in server_log(stack).splitlines() if " ERROR " in entry and "evidence" in entry]
    assert any(problem in entry for entry in errors), errors


def assert_lifted(phones: SipPhoneSystem, stack: RespectlineStack, case_id: int, booked: dt.datetime) -> None:
    """agent1's pause is lifted on time (``booked``: when the flag's session ended), in Asterisk and in
    the store."""
    wait_paused(phones, stack, "agent1", False, PAUSE_SECONDS["sqlite"] + ON_TIME)
    assert_lifted_on_time(stack.db_url, case_id, not_before=booked)


# ------------------------------------------------------------------------------ AMI down or hung

@contextlib.contextmanager
def server_ami_at(stack: RespectlineStack, port: int) -> Iterator[None]:
    """The server restarted with its AMI address on ``port``, and with the real one afterwards.

    Not Asterisk's own ``enabled = no`` and ``manager reload``: Asterisk 22.10.1 cancels its AMI
    listener thread on the first reload and cancels the same, stale, thread id again on the second
    one; when another thread has that id by then (here, the autoservice thread of the flagged call),
    it dies holding its lock and no queue call is rung or hung up any more (seen here with gdb)."""
    text = stack.config_path.read_text()
    real = f"  port: {stack.asterisk.ami_port}\n"
    assert real in text, "the stack's config has no ami.port line"
    stack.stop_server()
    stack.config_path.write_text(text.replace(real, f"  port: {port}\n", 1))
    stack.start_server()
    try:
        yield
    finally:
        stack.stop_server()
        stack.config_path.write_text(text)
        stack.start_server()


@contextlib.contextmanager
def silent_listener(port: int) -> Iterator[None]:
    """Something on AMI's port that takes connections and never says a word (a hung manager)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    try:
        yield
    finally:
        listener.close()  # connections still waiting in its backlog are reset


def keeper_failures(stack: RespectlineStack, port: int) -> int:
    return server_log(stack).count(f"cannot reach Asterisk's AMI at 127.0.0.1:{port} to end agent pauses")


@on_sqlite
def test_with_ami_down_or_hung_the_agent_is_still_paused_and_the_pause_is_lifted_once_ami_answers(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 7)
    port = free_port()  # nothing listens there: connections are refused, as when AMI is off or firewalled
    with server_ami_at(stack, port):
        # PauseQueueMember runs in the call (AGI): no AMI needed to protect the agent.
        uniqueid, line = flag_and_disconnect(phones, stack, agent, caller)
        assert "actions=agent_paused,recording,disconnect,case_opened,notified" in line, line
        assert heard(stack, caller, "abuse_closing_threat")
        [case] = cases_of(stack.db_url, phone_number(caller.username))
        assert case.call_id == uniqueid and protection_steps(case) == THREAT_EVENTS
        # The pause comes due; the keeper cannot reach AMI, says so every round, and tries again.
        failures = keeper_failures(stack, port)
        phones.wait_until(lambda: keeper_failures(stack, port) > failures, 2 * KEEPER_INTERVAL + 3,
                          "the keeper says it cannot reach AMI", interval=0.5)
        assert is_paused(stack, "agent1")
        # The rude twin: AMI's port takes the connection and never answers. The keeper gives up on it
        # (its AMI timeout, 10 s) instead of hanging for good.
        with silent_listener(port):
            failures = keeper_failures(stack, port)
            phones.wait_until(lambda: keeper_failures(stack, port) > failures, 10 + 2 * KEEPER_INTERVAL + 3,
                              "the keeper gives up on a silent AMI", interval=0.5)
            assert is_paused(stack, "agent1")
        [(_, _, resumed_at, _)] = [row for row in pause_rows(stack.db_url) if row[3] == case.id]
        assert resumed_at is None  # not marked as lifted while it was not
    back = utc_now()  # the server talks to the real AMI again
    wait_paused(phones, stack, "agent1", False, ON_TIME)
    assert_lifted_on_time(stack.db_url, case.id, not_before=back)


# --------------------------------------------------------------------------- hostile FastAGI peers

HOSTILE_PEERS = textwrap.dedent("""
    import socket, sys, threading, time
    port = int(sys.argv[1])
    stop = threading.Event()
    sent = {"environment": 0, "line": 0, "usage": 0}

    def session(kind, first, payload):
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(first)
                    if kind == "usage":
                        sock.recv(4096)  # the server's first command; then an answer that never ends
                    while not stop.is_set():
                        sock.sendall(payload)
                        sent[kind] += len(payload)
                        time.sleep(0.001)  # hostile, not a CPU hog: the phones share these two cores
            except OSError:
                time.sleep(0.02)  # cut off by the server, as it should: again

    screen = (b"agi_request: agi://127.0.0.1/screen\\nagi_channel: PJSIP/hostile-1\\nagi_uniqueid: 1.1\\n"
              b"agi_callerid: unknown\\nagi_arg_1: support\\n\\n")
    kinds = [
        ("environment", b"agi_request: agi://127.0.0.1/screen\\n", (b"agi_x: " + b"y" * 200 + b"\\n") * 20),
        ("line", b"agi_request: agi://127.0.0.1/screen", b"A" * 65536),
        ("usage", screen, b"520-Invalid command syntax.  Proper usage follows:\\n" + b"usage " * 170 + b"\\n"),
    ]
    threads = [threading.Thread(target=session, args=kind, daemon=True) for kind in kinds for _ in range(2)]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]  # and never a word
    for thread in threads:
        thread.start()
    print("flooding", flush=True)
    sys.stdin.read()
    stop.set()
    for thread in threads:
        thread.join(5)
    print(" ".join(f"{kind}={count // 1024}KB" for kind, count in sent.items()), flush=True)
""")


@contextlib.contextmanager
def hostile_peers(port: int) -> Iterator[dict[str, str]]:
    """Peers on the FastAGI port, in a process of their own: an endless environment, a line that
    never ends, an endless ``520-`` answer to the server's first command, 300 silent sockets. Yields a
    dict that gets what they managed to send."""
    flood = subprocess.Popen([sys.executable, "-c", HOSTILE_PEERS, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert flood.stdin is not None and flood.stdout is not None
    report: dict[str, str] = {}
    try:
        assert flood.stdout.readline().strip() == "flooding"
        yield report
    finally:
        flood.stdin.close()
        try:
            report["sent"] = flood.stdout.read().strip()
            flood.wait(10)
        except subprocess.TimeoutExpired:
            flood.kill()
            flood.wait()


def server_rss_mb(stack: RespectlineStack) -> float:
    """Resident memory of this stack's ``respectline serve`` process."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"serve" in command and str(stack.config_path).encode() in command:
            return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024
    raise AssertionError("no respectline serve process for this stack")


def prompt_delay(stack: RespectlineStack, caller: SipCaller, prompt: str, pressed: float) -> float:
    """Seconds from a key press (monotonic) to the prompt's first audio in what the caller heard. The
    caller's recording starts when its call is answered."""
    record = caller.last_call
    assert record is not None and record.recording is not None and record.connected_at is not None
    starts = find_prompt_times(record.recording, stack.prompt_file(prompt, "en"))
    after = [start for start in starts if start >= pressed - record.connected_at - 0.5]
    assert after, f"{prompt} not heard after the press"
    return after[0] - (pressed - record.connected_at)


@on_sqlite
def test_with_hostile_peers_flooding_the_server_the_caller_still_hears_the_warning_and_the_closing_on_time(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 1)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    with hostile_peers(stack.agi_port) as flood:
        phones.pump(1.0)
        peak = server_rss_mb(stack)
        first = time.monotonic()
        agent.press("*1")
        wait_for_flags(phones, stack, uniqueid, 1)
        peak = max(peak, server_rss_mb(stack))
        assert caller.state is PeerState.CONNECTED
        after_the_dedupe_window(phones)
        second = time.monotonic()
        agent.press("*1")
        hung_up_after(phones, caller, agent)
        [_, line] = wait_for_flags(phones, stack, uniqueid, 2)
        peak = max(peak, server_rss_mb(stack))
    warned, closed = prompt_delay(stack, caller, "recording_notice", first), prompt_delay(stack, caller, "abuse_closing", second)
    print(f"\nunder hostile peers ({flood['sent']}): key press to the caller's first audio {warned:.2f} s (notice "
          f"and warning), {closed:.2f} s (closing); server RSS peak {peak:.0f} MB")
    assert heard(stack, caller, "abuse_warning")
    assert warned < PROMPT_DELAY and closed < PROMPT_DELAY
    assert peak < 200
    assert "case_opened" in line
    [case] = cases_of(stack.db_url, phone_number(caller.username))
    assert case.call_id == uniqueid
    assert_lifted(phones, stack, case.id, logged_at(line))
