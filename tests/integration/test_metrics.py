"""``GET /metrics`` of a running FastAGI server after real sessions: the counters move, the labels stay
free of caller numbers, and the answer comes where ``/health`` does (the AGI port, ``health_port``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.settings import AmiSettings
from agi_scripts.handlers import ROUTES
from agi_scripts.handlers.context import Services
from agi_scripts.policy.pauses import PauseKeeper
from agi_scripts.server.app import FastAgiServer
from agi_scripts.server.options import ServerOptions
from agi_scripts.storage.base import StoreError
from agi_scripts.storage.outbox import Outbox
from tests.support.agi_peer import HOSTILE_CALLER_NAME, AgiPeer
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack
from tests.support.metrics import fetch, scrape, value

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "nl"}
CALLER_NUMBER = "32471234512"  # the AGI peer's default caller ID (+32471234512), never to be seen in /metrics


def _settled(port: int, deadline: float = 5.0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples once no session is in progress (a session ends when its connection is closed)."""
    end = time.monotonic() + deadline
    while True:
        samples = scrape(port)
        if value(samples, "respectline_sessions_active") == 0 or time.monotonic() > end:
            return samples
        time.sleep(0.05)


def test_sessions_latency_flags_and_cases_move_after_real_sessions(stack: Stack) -> None:
    port = stack.server.port
    before = _settled(port)
    with stack.call("screen", args=["support"], uniqueid="1700000100.1") as peer:
        FakeChannel().serve(peer)
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag", args=["threat"], uniqueid="1700000100.1") as peer:
        channel.serve(peer)
    after = _settled(port)

    def moved(name: str, labels: dict[str, str] | None = None) -> float:
        return value(after, name, labels) - value(before, name, labels)

    assert moved("respectline_sessions_total", {"script": "screen", "result": "ok"}) == 1
    assert moved("respectline_sessions_total", {"script": "flag", "result": "ok"}) == 1
    assert moved("respectline_script_duration_seconds_count", {"script": "screen"}) == 1
    assert moved("respectline_script_duration_seconds_count", {"script": "flag"}) == 1
    assert moved("respectline_script_duration_seconds_sum", {"script": "flag"}) > 0
    assert moved("respectline_flags_total", {"category": "threat"}) == 1
    assert moved("respectline_cases_opened_total", {"team": "security"}) == 1
    assert value(after, "respectline_sessions_active") == 0
    [case] = stack.store.list_cases()
    assert case.team == "security"


def test_a_session_in_progress_is_counted_as_active(stack: Stack) -> None:
    peer = AgiPeer(stack.server.port, timeout=10).start("screen", args=["support"], uniqueid="1700000100.2")
    try:
        peer.command()  # the server is inside the handler, waiting for Asterisk's answer
        assert value(scrape(stack.server.port), "respectline_sessions_active") >= 1
    finally:
        peer.close()
    assert value(_settled(stack.server.port), "respectline_sessions_active") == 0


def test_store_errors_pauses_and_the_outbox_backlog_are_reported(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    port = stack.server.port
    before = _settled(port)

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database is locked")

    with monkeypatch.context() as outage:
        outage.setattr(type(stack.store), "record_call_start", down)
        outage.setattr(type(stack.store), "open_case_for_caller", down)
        outage.setattr(type(stack.store), "book_escalation", down)
        with stack.call("screen", args=["support"], uniqueid="1700000100.3") as peer:
            FakeChannel().serve(peer)
        with stack.call("flag", args=["threat"], uniqueid="1700000100.3") as peer:
            FakeChannel(dict(AGENT)).serve(peer)
        keeper = PauseKeeper(stack.store, AmiSettings(), outbox=Outbox(stack.bundle.settings.spool_dir),
                             clock=lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2))
        keeper.lift_due()  # the flag waits in the outbox: the store refuses it
        during = _settled(port)
    assert value(during, "respectline_store_errors_total", {"where": "screen"}) - \
        value(before, "respectline_store_errors_total", {"where": "screen"}) >= 1
    assert value(during, "respectline_store_errors_total", {"where": "flag"}) - \
        value(before, "respectline_store_errors_total", {"where": "flag"}) == 1
    assert value(during, "respectline_outbox_backlog") == 1

    keeper.lift_due()  # the store is back: the flag is booked, its pause is in force
    after = scrape(port)
    assert value(after, "respectline_outbox_backlog") == 0
    assert value(after, "respectline_pauses_active") == 1
    assert len(stack.store.active_pauses()) == 1


def test_no_caller_number_or_name_reaches_a_label(stack: Stack) -> None:
    def unknown_sessions() -> float:
        return sum(v for (name, labels), v in scrape(stack.server.port).items()
                   if name == "respectline_sessions_total" and dict(labels).get("script") == "unknown")

    before = unknown_sessions()  # the registry is the process's: other tests' servers counted before
    with stack.call("screen", args=["support"], uniqueid="1700000100.4",
                    extra={"agi_calleridname": HOSTILE_CALLER_NAME}) as peer:
        FakeChannel().serve(peer)
    # A hostile script name is counted as 'unknown', never as a new series of its own.
    with stack.call(f"{CALLER_NUMBER}-evil\"name", uniqueid="1700000100.5") as peer:
        FakeChannel().serve(peer)
    _status, _type, text = fetch(stack.server.port)
    assert CALLER_NUMBER not in text
    assert "evil" not in text and HOSTILE_CALLER_NAME not in text
    assert unknown_sessions() == before + 1


def test_metrics_are_answered_on_the_health_port_too_and_other_paths_are_not_found(
        stack: Stack, tmp_path: Path) -> None:
    server = FastAgiServer(lambda: load_bundle(stack.tree.config), routes=ROUTES,
                           services=Services.offloaded(stack.store),
                           options=ServerOptions(port=0, health_port=0)).run_in_thread()
    try:
        health_port = server.server.health_port
        assert health_port
        status, content_type, body = fetch(health_port)
        assert status == 200 and content_type.startswith("text/plain") and "version=" in content_type
        assert "# TYPE respectline_sessions_active gauge" in body and "# TYPE respectline_flags_total counter" in body
        assert "respectline_desk_" not in body  # the desk's metrics are the desk process's own
        status, _type, body = fetch(health_port, method="HEAD")
        assert status == 200 and body == ""
        assert fetch(health_port, "/metricsX")[0] == 404
        assert fetch(server.port, "/health")[0] == 200
    finally:
        server.stop()
