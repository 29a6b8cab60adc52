"""The post-call flow engine follows the YAML steps, with retries, and keeps what the caller gave."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.flows.engine import Recording, run_post_call
from agi_scripts.flows.post_call import PostCallFlow, Step
from tests.conftest import ConfigTree


class CallerHungUp(Exception):
    pass


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
        if self.hang_up_at == "record":
            raise CallerHungUp
        return self.recording

    def _hear(self, prompt_id: str) -> None:
        if prompt_id == self.hang_up_at:
            raise CallerHungUp
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


def test_caller_hanging_up_while_recording_keeps_the_rating(flow: PostCallFlow) -> None:
    caller = ScriptedCaller(["1", "3", "1"], hang_up_at="record")
    sink = Sink()
    with pytest.raises(CallerHungUp):
        run_post_call(flow, caller, sink)
    assert sink.events == [("accepted", None), ("rated", 3)]


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
