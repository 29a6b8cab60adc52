"""Two real ``respectline serve`` processes on one store, driven at the same time over FastAGI.

What a contact centre with several Asterisk hosts relies on (issue 7): whichever server a session
reaches, no compliment or case is lost or written twice, and the abuse ladder counts a call's flags
across servers (flag 1 on server A warns, flag 2 on server B disconnects, one case). Run on a
PostgreSQL database, the backend meant for this, and on one SQLite file shared by both processes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from agi_scripts.storage import Store, open_store
from tests.support.config_tree import PROJECT, ConfigTree
from tests.support.fake_channel import FakeChannel
from tests.support.postgres_server import PostgresServer
from tests.support.agi_peer import AgiPeer

DEDUPE_SECONDS = 2.0
"""Short, so a test can wait it out between a call's first and second flag."""
CALLS = 12
"""Sessions per round; more than the servers' worker threads, so they really overlap."""
T = TypeVar("T")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass
class TwoServers:
    a: Server
    b: Server
    store_url: str
    tree: ConfigTree

    def session(self, server: Server, script: str, channel: FakeChannel, **environment: object) -> FakeChannel:
        with AgiPeer(server.port, timeout=20).start(script, **environment) as peer:
            channel.serve(peer, timeout=20)
        return channel

    def open_store(self) -> Store:
        return open_store(self.store_url)


def start_server(tree: ConfigTree, store_url: str, name: str) -> subprocess.Popen[bytes]:
    log = (tree.root / f"serve-{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "agi_scripts.cli.main", "serve", "--config", str(tree.config),
             "--listen", "127.0.0.1:0", "--db", store_url],
            stdout=subprocess.PIPE, stderr=log, cwd=PROJECT, start_new_session=True)
    finally:
        log.close()


def wait_listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if line.startswith("listening on"):
            return int(line.rsplit(":", 1)[1])
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"respectline serve did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise AssertionError(f"server on port {server.port} did not stop on SIGTERM") from None


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoServers]:
    tree = ConfigTree(tmp_path_factory.mktemp("two-servers"))
    tree.replace("config/respectline.yaml", "recordings: ../var/recordings", f"recordings: {tree.root / 'recordings'}")
    tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", f"dedupe_window: {DEDUPE_SECONDS:g}s")
    postgres: PostgresServer | None = None
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres_server")
        store_url = postgres.create_database("rl_two_servers")
    else:
        store_url = f"sqlite:///{tree.root / 'shared.sqlite'}"
    processes = [start_server(tree, store_url, name) for name in ("a", "b")]  # both start at once
    logs = [tree.root / f"serve-{name}.log" for name in ("a", "b")]
    try:
        a, b = (Server(p, wait_listening(p, log), log) for p, log in zip(processes, logs))
        yield TwoServers(a, b, store_url, tree)
        assert [stop(a), stop(b)] == [0, 0], "a server did not drain and exit cleanly"
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        if postgres is not None:
            postgres.drop_database(store_url)


def at_once(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Run every job in its own thread at the same time; results in the jobs' order."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result(timeout=60) for future in futures]


def agent_variables(n: int) -> dict[str, str]:
    return {"MEMBERNAME": f"Member agent{n}", "MEMBERINTERFACE": f"PJSIP/agent{n}", "BRIDGEPEER": f"PJSIP/agent{n}-1",
            "RL_ROUTE": "support", "RL_LANGUAGE": "nl", "RL_CAMPAIGN": ""}


def played(channel: FakeChannel) -> list[str]:
    return [command[2] for command in channel.sent("STREAM")]


# ------------------------------------------------------------------ tests


def test_screens_and_compliments_on_both_servers_at_once_are_each_stored_exactly_once(servers: TwoServers) -> None:
    call_ids = [f"1800000000.{n}" for n in range(CALLS)]

    def screen(n: int) -> Callable[[], FakeChannel]:
        server = servers.a if n % 2 else servers.b
        return lambda: servers.session(server, "screen", FakeChannel(), args=["support"], uniqueid=call_ids[n],
                                       callerid=f"+3247100{n:04d}")

    def compliment(n: int) -> Callable[[], FakeChannel]:
        server = servers.b if n % 2 else servers.a  # the other server than the call's screen
        channel = FakeChannel(agent_variables(n)).press(["1", str(1 + n % 5), "1"])
        return lambda: servers.session(server, "post_call", channel, uniqueid=call_ids[n])

    screened = at_once([screen(n) for n in range(CALLS)])
    assert all(channel.variables.get("RL_ROUTE") == "support" for channel in screened)
    complimented = at_once([compliment(n) for n in range(CALLS)])
    assert all(played(channel)[-1] == "respectline/nl/compliment_thanks" for channel in complimented)

    store = servers.open_store()
    try:
        calls = [store.get_call(call_id) for call_id in call_ids]
        compliments = [c for c in store.list_compliments() if c.call_id in call_ids]
    finally:
        store.close()
    assert [call.caller if call else None for call in calls] == [f"+3247100{n:04d}" for n in range(CALLS)]
    assert sorted((c.call_id, c.agent, c.rating) for c in compliments) == sorted(
        (call_ids[n], f"PJSIP/agent{n}", 1 + n % 5) for n in range(CALLS))  # no agents: section: the device
    assert all(c.recording and Path(c.recording).is_file() for c in compliments)


def test_a_calls_second_flag_on_the_other_server_disconnects_with_exactly_one_case(servers: TwoServers) -> None:
    call_ids = [f"1800000001.{n}" for n in range(CALLS)]
    firsts, seconds = [servers.a, servers.b] * (CALLS // 2), [servers.b, servers.a] * (CALLS // 2)

    def flag(n: int, server: Server, variables: dict[str, str]) -> Callable[[], FakeChannel]:
        return lambda: servers.session(server, "flag?category=verbal_abuse", FakeChannel(variables),
                                       uniqueid=call_ids[n], callerid=f"+3247200{n:04d}")

    warned = at_once([flag(n, firsts[n], agent_variables(n)) for n in range(CALLS)])
    time.sleep(DEDUPE_SECONDS + 0.2)  # a second press, not a double press
    # What the first flag set on the caller's channel (the evidence recording) stays for the second.
    disconnected = at_once([flag(n, seconds[n], warned[n].variables) for n in range(CALLS)])

    for channel in warned:
        assert played(channel) == ["respectline/nl/recording_notice", "respectline/nl/abuse_warning"]
        assert channel.sent("HANGUP") == []
    for channel in disconnected:
        assert played(channel) == ["respectline/nl/abuse_closing"]
        assert channel.sent("HANGUP") == [["HANGUP"]]
    store = servers.open_store()
    try:
        cases = [case for case in store.list_cases() if case.call_id in call_ids]
        incidents = [i for i in store.list_incidents() if i.call_id in call_ids]
    finally:
        store.close()
    assert sorted(case.call_id for case in cases) == sorted(call_ids)  # one case per call, none twice
    for case in cases:
        assert (case.team, case.category) == ("special_care", "verbal_abuse")
        assert [e.action for e in case.events][:2] == ["warn", "case_opened"]
        assert [e.action for e in case.events].count("disconnect") == 1
    assert sorted((i.call_id, i.number_in_call, i.action) for i in incidents) == sorted(
        [(call_id, 1, "warn") for call_id in call_ids] + [(call_id, 2, "disconnect") for call_id in call_ids])


def test_one_flag_booked_by_both_servers_at_once_is_stored_once(servers: TwoServers) -> None:
    """Asterisk runs one call's features one after another, so the ladder counts on the channel. Should
    the same flag still reach both servers (a retry through the other one), the store books it once."""
    call_ids = [f"1800000002.{n}" for n in range(CALLS // 2)]

    def press(n: int, server: Server) -> Callable[[], FakeChannel]:
        return lambda: servers.session(server, "flag?category=verbal_abuse", FakeChannel(agent_variables(n)),
                                       uniqueid=call_ids[n])

    jobs = [press(n, server) for n in range(len(call_ids)) for server in (servers.a, servers.b)]
    channels = at_once(jobs)
    for channel in channels:  # each server protected the agent on its own
        assert played(channel)[-1] == "respectline/nl/abuse_warning"
    store = servers.open_store()
    try:
        incidents = [i for i in store.list_incidents() if i.call_id in call_ids]
        cases = [case for case in store.list_cases() if case.call_id in call_ids]
    finally:
        store.close()
    assert sorted(i.call_id for i in incidents) == sorted(call_ids)
    assert cases == []
