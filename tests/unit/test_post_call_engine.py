"""The post-call flow engine follows the YAML steps, with retries, and keeps what the caller gave."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.flows.engine import CallerGone, Recording, run_post_call
from agi_scripts.flows.post_call import PostCallFlow, Step
from tests.support.config_tree import ConfigTree


class ScriptedCaller:
    """Answers each ``ask`` with the next scripted key ('' = silence); records what it heard."""

    def __init__(self, keys: list[str], recording: Recording | None = None, hang_up_at: str = "") -> None:
        self.keys = deque(keys)
        self.heard: list[str] = []
        self.recording = recording
        self.hang_up_at = hang_up_at

    def play(self, prompt_id: str) -> None:
        self._hear(prompt_id)

    def ask(self, prompt_id: str, digits: str, timeout: float) -> str:
        self._hear(prompt_id)
        return self.keys.popleft() if self.keys else ""

    def record(self, step: Step) -> Recording | None:
        """As CallerIO promises: a hang-up while recording comes back with what was recorded."""
        if self.hang_up_at == "record" and self.recording is not None:
            return Recording(self.recording.path, self.recording.kept, caller_hung_up=True)
        if self.hang_up_at == "record":
            raise CallerGone
        return self.recording

    def _hear(self, prompt_id: str) -> None:
        if prompt_id == self.hang_up_at:
            raise CallerGone
        self.heard.append(prompt_id)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def accepted(self) -> None:
        if ("accepted", None) not in self.events:
            self.events.append(("accepted", None))

    def rated(self, rating: int) -> None:
        self.events.append(("rated", rating))

    def recorded(self, path: Path) -> None:
        self.events.append(("recorded", path))

    def completed(self) -> None:
        self.events.append(("completed", None))


@pytest.fixture
def flow(config_tree: ConfigTree) -> PostCallFlow:
    return load_bundle(config_tree.config).post_call


def test_caller_who_rates_and_records_leaves_a_complete_compliment(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "5", "1"], Recording(Path("/r/x.wav"), kept=True))
    sink = Sink()
    trace = run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 5), ("recorded", Path("/r/x.wav")), ("completed", None)]
    assert trace.steps == ["offer", "rate", "record_offer", "record", "thanks", "thanks_prompt"]
    assert caller.heard[-1] == "compliment_thanks"
    assert trace.outcome == "completed"


def test_silent_caller_hears_the_offer_again_then_goodbye_and_nothing_is_kept(flow: PostCallFlow) -> None:
    caller = ScriptedCaller([])
    sink = Sink()
    trace = run_post_call(flow, caller, sink)
    assert caller.heard == ["compliment_offer", "compliment_offer", "compliment_goodbye"]
    assert sink.events == []
    assert trace.outcome == "ended"


def test_wrong_key_is_explained_and_the_question_repeated(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "9", "4", "2"])
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert caller.heard[:4] == ["compliment_offer", "compliment_rate", "compliment_invalid", "compliment_rate"]
    assert ("rated", 4) in sink.events
    assert ("recorded", Path("/r/x.wav")) not in sink.events


def test_caller_hanging_up_right_after_speaking_keeps_the_message_and_the_compliment_is_announced(
        flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "5", "1"], Recording(Path("/r/x.wav"), kept=True), hang_up_at="record")
    sink = Sink()
    trace = run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 5), ("recorded", Path("/r/x.wav")), ("completed", None)]
    assert trace.outcome == "completed-after-hangup"
    assert "compliment_thanks" not in caller.heard  # nobody is left to hear it


def test_silence_then_hang_up_keeps_no_recording_but_the_rating_is_completed(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "4", "1"], Recording(Path("/r/x.wav"), kept=False), hang_up_at="record")
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 4), ("completed", None)]


def test_hang_up_during_the_rating_prompt_invents_nothing(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1"], hang_up_at="compliment_rate")
    sink = Sink()
    trace = run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None)]  # the caller chose to leave one; no rating, no announcement
    assert trace.outcome == "caller-hung-up"


def test_hang_up_in_the_menu_after_rating_completes_and_announces_the_rating(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "2"], hang_up_at="compliment_record_offer")
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 2), ("completed", None)]


def test_hang_up_during_the_thanks_after_the_log_step_announces_once(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "5", "2"], hang_up_at="compliment_thanks")
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert sink.events.count(("completed", None)) == 1


def test_a_flow_without_a_log_step_announces_nothing_after_a_hang_up_either(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", "    thanks:\n      type: log                   # marks the compliment complete and announces it to the agent\n      next: thanks_prompt",
                        "    thanks:\n      type: play\n      prompt: compliment_thanks")
    flow = load_bundle(config_tree.config).post_call
    caller = ScriptedCaller(["1", "5"], hang_up_at="compliment_record_offer")
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert ("completed", None) not in sink.events and ("rated", 5) in sink.events


def test_discarded_silent_recording_is_not_kept_but_the_compliment_completes(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "5", "1"], Recording(Path("/r/silence.wav"), kept=False))
    sink = Sink()
    run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 5), ("completed", None)]


def test_flow_that_loops_forever_is_cut_off(tmp_path: Path, config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", "      on_timeout: goodbye", "      on_timeout: offer")
    flow = load_bundle(config_tree.config).post_call
    trace = run_post_call(flow, ScriptedCaller([]), Sink())
    assert trace.outcome == "step-limit"
    assert len(trace.steps) == 50


def test_a_caller_who_withdrew_and_then_hung_up_is_not_announced(config_tree: ConfigTree) -> None:
    """Only a log step the caller could still reach completes the compliment after a hang-up."""
    config_tree.replace("flows/post_call.yaml", '      choices: {"1": record, "2": thanks}',
                        '      choices: {"1": record, "2": thanks, "3": withdrawn}')
    config_tree.replace("flows/post_call.yaml", "    goodbye:\n",
                        "    withdrawn:\n      type: play\n      prompt: compliment_goodbye\n      next: end\n\n    goodbye:\n")
    flow = load_bundle(config_tree.config).post_call
    caller = ScriptedCaller(["1", "5", "3"], hang_up_at="compliment_goodbye")
    sink = Sink()
    trace = run_post_call(flow, caller, sink)
    assert ("completed", None) not in sink.events and ("rated", 5) in sink.events
    assert trace.outcome == "caller-hung-up"
