"""post_call marks a call whose compliment flow ran (the offer), after the flow, so the campaigns'
A/B report counts offers; over a real FastAGI socket on the shipped flows. A store that fails at
that moment costs the caller nothing: the flow has already ended, and the log says what was lost."""

from __future__ import annotations

import logging

import pytest

from agi_scripts.storage.base import StoreError
from agi_scripts.storage.figures import OFFERED, Figures
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "nl", "RL_CAMPAIGN": "thank-you-week-b"}


def started(stack: Stack, call_id: str) -> None:
    stack.store.record_call_start(call_id, caller="+32470111222", queue="support", language="nl", route="support",
                                  campaign="thank-you-week-b")


def test_an_offer_declined_and_one_accepted_are_both_counted_for_the_calls_campaign(stack: Stack) -> None:
    started(stack, "1700000100.1")
    started(stack, "1700000100.2")
    started(stack, "1700000100.3")  # its agent hung up on a caller who was never asked
    with stack.call("post_call", uniqueid="1700000100.1") as peer:
        FakeChannel(dict(AGENT)).serve(peer)  # no answer to the offer
    with stack.call("post_call", uniqueid="1700000100.2") as peer:
        FakeChannel(dict(AGENT)).press(["1", "4", "2"]).serve(peer)  # accepts, rates 4, no message
    assert stack.store.get_call("1700000100.1").outcome == OFFERED  # type: ignore[union-attr]
    assert stack.store.get_call("1700000100.2").agent == "Agent One"  # type: ignore[union-attr]
    assert stack.store.get_call("1700000100.3").outcome is None  # type: ignore[union-attr]
    [result] = Figures(stack.store).campaign_results()
    assert (result.campaign, result.calls, result.offered, result.accepted, result.rated, result.recorded) == (
        "thank-you-week-b", 3, 2, 1, 1, 0)


def test_a_store_failing_as_the_offer_is_marked_costs_the_caller_nothing(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    started(stack, "1700000100.9")

    def refuse(*args: object, **kwargs: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(stack.store, "update_call", refuse)
    channel = FakeChannel(dict(AGENT)).press(["1", "5", "2"])
    with caplog.at_level(logging.ERROR), stack.call("post_call", uniqueid="1700000100.9") as peer:
        channel.serve(peer)
    [compliment] = stack.store.list_compliments()
    assert compliment.rating == 5  # the caller's flow went to its end
    assert [c[2] for c in channel.sent("STREAM")][-1] == "respectline/nl/compliment_thanks"
    assert "this offer is not counted in the campaign report" in caplog.text
    assert stack.store.get_call("1700000100.9").outcome is None  # type: ignore[union-attr]
