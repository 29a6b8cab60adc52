"""The thank-you worker's decisions without Asterisk: an AMI double that answers QueueStatus from a scripted
member table and records every action. On SQLite and PostgreSQL (``store``). The real calls are in
tests/e2e/test_appreciation.py; here the rude cases that are hard to stage with phones: a customer call that
wins the race with the pause, recovery pauses, the cap on agents rung at once, a pause left behind by a lost
connection, Asterisk refusing the Originate, AMI off."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage
from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.settings import AmiSettings
from agi_scripts.policy.appreciation import PAUSE_REASON, AppreciationWorker
from agi_scripts.storage import Store
from agi_scripts.storage.appreciation import AppreciationStore
from tests.support.config_tree import ConfigTree

AMI = AmiSettings(username="respectline", secret="s")
NOW = datetime(2026, 10, 6, 8, 0, tzinfo=timezone.utc)


@dataclass
class FakeAmi:
    """Members as QueueStatus reports them: device -> fields; ``after_pause`` changes them once paused."""

    members: dict[str, dict[str, str]]
    after_pause: Mapping[str, dict[str, str]] = field(default_factory=dict)
    actions: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def send_action(self, action: str, fields: Mapping[str, str] | None = None, *, check: bool = True) -> AmiMessage:
        given = dict(fields or {})
        self.actions.append((action, given))
        if action in self.refuse:
            raise AmiError(f"AMI {action} failed: refused")
        if action == "QueuePause":
            device = given["Interface"]
            paused = given["Paused"] == "true"
            self.members[device].update(Paused="1" if paused else "0", PausedReason=given["Reason"] if paused else "")
            if paused and device in self.after_pause:
                self.members[device].update(self.after_pause[device])
        return {"Response": "Success", "ActionID": f"id-{len(self.actions)}"}

    def send_action_list(self, action: str, fields: Mapping[str, str] | None = None) -> tuple[AmiMessage, list[AmiMessage]]:
        assert action == "QueueStatus"
        items = [{"Event": "QueueMember", "Queue": fields_["Queue"], "StateInterface": device,
                  "Status": fields_["Status"], "InCall": fields_.get("InCall", "0"), "Paused": fields_.get("Paused", "0"),
                  "PausedReason": fields_.get("PausedReason", "")} for device, fields_ in self.members.items()]
        return {"Response": "Success"}, items

    def next_event(self, timeout: float | None = None) -> AmiMessage | None:
        return None

    def close(self) -> None:
        pass

    def names(self, action: str) -> list[dict[str, str]]:
        return [fields for name, fields in self.actions if name == action]


def free(queue: str = "support", **more: str) -> dict[str, str]:
    return {"Queue": queue, "Status": "1", **more}


def bundle_with_round(config_tree: ConfigTree, extra: str = "", *, max_parallel: int = 2) -> Bundle:
    config_tree.path("flows/appreciation.yaml").write_text(
        f"max_parallel: {max_parallel}\nrounds:\n  - id: day\n    to: all\n"
        f"    message: {{prompt: appreciation_thank_you}}\n{extra}", encoding="utf-8")
    return load_bundle(config_tree.config)


def worker(store: Store, bundle: Bundle, ami: FakeAmi, settings: AmiSettings = AMI) -> AppreciationWorker:
    connect: Callable[[AmiSettings], AmiClient] = lambda _settings: ami  # type: ignore[assignment,return-value]
    return AppreciationWorker(store, settings, bundle, clock=lambda: NOW, connect=connect)


def test_a_customer_call_that_wins_the_race_keeps_the_agent(store: Store, config_tree: ConfigTree) -> None:
    ami = FakeAmi({"PJSIP/agent1": free()}, after_pause={"PJSIP/agent1": {"Status": "6"}})  # ringing meanwhile
    worker(store, bundle_with_round(config_tree), ami)._round_once()
    assert not ami.names("Originate"), "an agent whose customer call was ringing was rung"
    assert [p["Paused"] for p in ami.names("QueuePause")] == ["true", "false"]  # paused, then given back at once
    delivery = AppreciationStore(store).get("day", "PJSIP/agent1")
    assert delivery is not None and (delivery.status, delivery.tries) == ("waiting", 0)


def test_only_free_agents_are_rung_and_at_most_max_parallel(store: Store, config_tree: ConfigTree) -> None:
    ami = FakeAmi({"PJSIP/agent1": free(), "PJSIP/agent2": free("billing"), "PJSIP/agent3": free(),
                   "PJSIP/busy": free(Status="2", InCall="1"), "PJSIP/ringing": free(Status="6"),
                   "PJSIP/lunch": free(Paused="1", PausedReason="lunch")})
    worker(store, bundle_with_round(config_tree), ami)._round_once()
    rung = [o["Channel"] for o in ami.names("Originate")]
    assert len(rung) == 2 and set(rung) <= {"PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"}
    assert all(o["Context"] == "respectline-appreciation" for o in ami.names("Originate"))
    statuses = {d.agent: d.status for d in AppreciationStore(store).deliveries("day")}
    assert sorted(statuses.values()).count("ringing") == 2 and statuses["PJSIP/busy"] == "waiting"


def test_recovery_pause_skip_or_after(store: Store, config_tree: ConfigTree) -> None:
    store.record_pause(agent="PJSIP/agent1", queues=["support"], reason="recovery", paused_at=NOW - timedelta(minutes=1),
                       resume_at=NOW + timedelta(minutes=4))
    ami = FakeAmi({"PJSIP/agent1": free()})  # free as far as the queue says
    worker(store, bundle_with_round(config_tree, "    on_recovery_pause: after\n"), ami)._round_once()
    assert not ami.names("Originate") and not ami.names("QueuePause")
    assert AppreciationStore(store).get("day", "PJSIP/agent1").status == "waiting"  # type: ignore[union-attr]
    worker(store, bundle_with_round(config_tree, "    on_recovery_pause: skip\n"), ami)._round_once()
    assert not ami.names("Originate")
    assert AppreciationStore(store).get("day", "PJSIP/agent1").status == "skipped"  # type: ignore[union-attr]


def test_a_pause_left_by_a_lost_connection_is_lifted_at_connect(store: Store, config_tree: ConfigTree) -> None:
    ami = FakeAmi({"PJSIP/agent1": free(Paused="1", PausedReason=PAUSE_REASON),
                   "PJSIP/agent2": free(Paused="1", PausedReason="lunch")})
    worker(store, bundle_with_round(config_tree), ami)._round_once()
    lifted = [p["Interface"] for p in ami.names("QueuePause") if p["Paused"] == "false"]
    assert lifted[0] == "PJSIP/agent1" and "PJSIP/agent2" not in lifted  # someone else's pause stays


def test_asterisk_refusing_the_originate_unpauses_and_counts_a_try(store: Store, config_tree: ConfigTree) -> None:
    ami = FakeAmi({"PJSIP/agent1": free()}, refuse={"Originate"})
    worker(store, bundle_with_round(config_tree), ami)._round_once()
    assert [p["Paused"] for p in ami.names("QueuePause")] == ["true", "false"]
    delivery = AppreciationStore(store).get("day", "PJSIP/agent1")
    assert delivery is not None and (delivery.status, delivery.tries) == ("waiting", 1)
    assert "refused" in delivery.detail


def test_without_ami_nobody_is_rung(store: Store, config_tree: ConfigTree) -> None:
    ami = FakeAmi({"PJSIP/agent1": free()})
    worker(store, bundle_with_round(config_tree), ami, AmiSettings())._round_once()
    assert ami.actions == []


@pytest.mark.parametrize("title", ['Bob" <666>\r\nAction: Originate', "Ünïcode, comma & (x)"])
def test_a_hostile_title_stays_inside_the_caller_id_name(store: Store, config_tree: ConfigTree, title: str) -> None:
    ami = FakeAmi({"PJSIP/agent1": free()})
    escaped = title.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", " ")
    worker(store, bundle_with_round(config_tree, f'    title: "{escaped}"\n'), ami)._round_once()
    (originate,) = ami.names("Originate")
    name = originate["CallerID"]
    assert name.count('"') == 2 and name.endswith('" <>') and "\r" not in name and "\n" not in name
