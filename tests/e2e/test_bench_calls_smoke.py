"""Keeps ``make bench-calls`` from rotting: its core, with three calls, against the real Asterisk.

With Respectline, every call must go through ``screen`` (a call row in the store with the bench's
campaign) and through the whole ``post_call`` survey (a compliment rated 5, and the AMI event that
announces it). In the baseline (the same dialplan without its AGI() lines, no server) the same calls
reach an agent and end with neither.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agi_scripts.sandbox.asterisk import AsteriskNotFound
from agi_scripts.storage import open_store
from bench.calls_stack import BENCH_CAMPAIGN_ID, BenchCallStack, CallScript
from bench.calls_wave import WaveResult, run_wave

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CALLS = 3


def wave_on(variant: str, folder: Path) -> tuple[BenchCallStack, WaveResult]:
    stack = BenchCallStack(variant, folder, agents=CALLS, script=CallScript())
    try:
        stack.start()
    except AsteriskNotFound as error:
        stack.stop()
        pytest.fail(f"Asterisk is not installed: run `make asterisk` ({error})")
    try:
        result = run_wave(stack, CALLS, behaviour="survey", arrival_rate=40, wave_id=f"smoke-{variant}")
        assert stack.asterisk.channels() == []
    finally:
        stack.stop()
    return stack, result


def test_respectline_calls_go_through_screen_and_post_call_and_baseline_calls_do_not(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("bc")  # short: Asterisk's control socket path has a length limit
    stack, with_agi = wave_on("respectline", folder / "rl")
    store = open_store(stack.db_url)
    try:
        calls = [store.get_call(call_id) for call_id in with_agi.call_ids]
        compliments = store.list_compliments()
    finally:
        store.close()
    assert (with_agi.failed, with_agi.unfinished, with_agi.agent_connected) == (0, 0, CALLS)
    assert [call.campaign if call else None for call in calls] == [BENCH_CAMPAIGN_ID] * CALLS
    assert with_agi.compliments_completed == CALLS
    assert sorted(c.call_id for c in compliments if c.rating == 5) == sorted(with_agi.call_ids)
    assert with_agi.server_cpu > 0

    base_stack, baseline = wave_on("baseline", folder / "base")
    # screen, post_call, call_ended (the hang-up handler), and the lines of the managers (*87), of the
    # agents' compliments (*88) and of the agents' pause (*89)
    assert base_stack.removed_agi_lines == 6
    assert (baseline.failed, baseline.unfinished, baseline.agent_connected) == (0, 0, CALLS)
    assert baseline.compliments_completed == 0
    assert base_stack.server_pid is None and baseline.server_cpu == 0
    assert not Path(base_stack.db_url.removeprefix("sqlite:///")).exists()  # no server, no store


def test_protection_bench_times_a_first_flag_and_a_closing_through_the_real_asterisk(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """``make bench-calls``' protection part at its smallest: one pjsua2 caller and two background
    calls; a long call (first flag, then the closing) and a short one. Every press is timed from the
    digit on the wire to the prompt's first packet at the caller, and no press waits for Asterisk's
    featuredigittimeout (1500 ms in the sandbox)."""
    from bench.protection import ProtectionSettings, run_store
    from bench.protection_calls import numbers
    from bench.rtp_capture import CaptureUnavailable

    settings = ProtectionSettings(concurrencies=[3], stores=["sqlite"], pairs=1, presses=3, long_every=2,
                                  second_presses=("closing",), warm_up=False)
    try:
        [point] = run_store("sqlite", tmp_path_factory.mktemp("bp"), settings, None, lambda _: None, numbers())
    except AsteriskNotFound as error:
        pytest.fail(f"Asterisk is not installed: run `make asterisk` ({error})")
    except CaptureUnavailable as error:
        pytest.fail(str(error))
    presses = point.presses
    assert [(p.kind, p.sound.rsplit("/", 1)[-1], p.failure) for p in presses] == [
        ("first", "recording_notice", ""), ("closing", "abuse_closing", ""), ("first", "recording_notice", "")]
    for press in presses:
        assert press.prompt_start is not None and press.match_score is not None and press.match_score > 0.5
        wire = (press.key_up, press.wire_connect, press.wire_env_end, press.wire_first_command, press.wire_stream,
                press.heard)
        assert None not in wire and list(wire) == sorted(wire)  # type: ignore[type-var]
        assert press.server_part is not None and 0 < press.server_part < press.latency  # type: ignore[operator]
        assert press.latency is not None and 0 < press.latency < 1.0
    assert point.summary()["in_progress_min"] >= 2
    store = open_store(point.store_url)
    try:
        [case] = store.list_cases()
    finally:
        store.close()
    assert (case.category, case.caller) == ("verbal_abuse", presses[1].call)
