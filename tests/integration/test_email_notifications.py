"""E-mail notifications against a real SMTP server (aiosmtpd on loopback), through the real FastAGI
server, the shipped flows and handlers, and a real store."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.settings import SmtpSettings
from agi_scripts.handlers import ROUTES
from agi_scripts.handlers.context import Services
from agi_scripts.notify import MailQueue
from agi_scripts.server.app import FastAgiServer, RunningServer
from agi_scripts.server.options import ServerOptions
from agi_scripts.storage import Store, open_store
from tests.support.config_tree import ConfigTree
from tests.support.fake_channel import FakeChannel
from tests.support.smtp_servers import Login, free_port, silent_server, smtp_server
from tests.support.agi_peer import AgiPeer

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "nl"}
CALLER = "+32471234512"
SUPERVISORS = "supervisors@example.org"
SECURITY = "security@example.org"
SPECIAL_CARE = "specialcare@example.org"


def email_config(port: int, *, timeout: str = "3s", include_caller_number: bool = False) -> str:
    return (
        "\nnotifications:\n  email:\n"
        f"    smtp: {{host: 127.0.0.1, port: {port}, timeout: {timeout}}}\n"
        "    from: respectline@example.org\n"
        f"    supervisors: [{SUPERVISORS}]\n"
        f"    teams: {{special_care: [{SPECIAL_CARE}], security: [{SECURITY}]}}\n"
        f"    include_caller_number: {'true' if include_caller_number else 'false'}\n")


@dataclass
class MailStack:
    server: RunningServer
    store: Store
    mail: MailQueue

    def flag(self, category: str, uniqueid: str, variables: dict[str, str] | None = None) -> tuple[FakeChannel, float]:
        """One ``flag`` session; returns the channel and the seconds the session took."""
        channel = FakeChannel(dict(variables or AGENT))
        started = time.monotonic()
        with AgiPeer(self.server.port, timeout=10).start(f"flag?category={category}", uniqueid=uniqueid) as peer:
            channel.serve(peer)
        return channel, time.monotonic() - started


@contextmanager
def running(tree: ConfigTree, tmp_path: Path, config: str = "", name: str = "store") -> Iterator[MailStack]:
    text = tree.config.read_text().replace("recordings: ../var/recordings", f"recordings: {tmp_path / 'rec'}")
    text = text.replace("agents: {}", "agents:\n  Agent One: PJSIP/agent1")
    tree.config.write_text(text + config)
    store = open_store(f"sqlite:///{tmp_path / name}.sqlite")
    mail = MailQueue()
    server = FastAgiServer(lambda: load_bundle(tree.config), routes=ROUTES, services=Services.offloaded(store, mail=mail),
                           options=ServerOptions(port=0, reload_poll=0.2)).run_in_thread()
    try:
        yield MailStack(server, store, mail)
    finally:
        server.stop()
        mail.close(timeout=10)
        store.close()


def test_a_threat_mails_its_case_to_security_once_with_the_caller_masked(config_tree: ConfigTree,
                                                                           tmp_path: Path) -> None:
    with smtp_server() as (port, inbox), running(config_tree, tmp_path, email_config(port)) as stack:
        channel, _ = stack.flag("threat", "1700000000.51")
        stack.mail.close(timeout=10)
        [case] = stack.store.list_cases()
    assert channel.sent("HANGUP") == [["HANGUP"]]  # the call went on as without e-mail
    [team_mail] = inbox.to(SECURITY)
    assert inbox.to(SPECIAL_CARE) == []
    message = team_mail.message
    assert team_mail.mail_from == "respectline@example.org"
    assert message["To"] == SECURITY and message["From"] == "respectline@example.org"
    assert message["Subject"] == f"[Respectline] Case {case.id} for Security: Threat, priority urgent"
    assert message.get_content_type() == "text/plain" and not message.is_multipart()  # no recording attached
    body = message.get_content()
    for line in (f"Case:     {case.id}", "Team:     Security (security)", "Category: Threat (threat)",
                 "Priority: urgent", "Queue:    support", "Agent:    Agent One", "Caller:   +3247****12",
                 f"  respectline cases show {case.id}"):
        assert line in body.splitlines(), f"{line!r} missing from:\n{body}"
    assert CALLER not in team_mail.raw.decode() and CALLER[3:] not in team_mail.raw.decode()


def test_the_agents_pause_is_mailed_to_the_supervisors(config_tree: ConfigTree, tmp_path: Path) -> None:
    with smtp_server() as (port, inbox), running(config_tree, tmp_path, email_config(port)) as stack:
        stack.flag("threat", "1700000000.52")
        stack.mail.close(timeout=10)
        [case] = stack.store.list_cases()
    [pause_mail] = inbox.to(SUPERVISORS)
    assert pause_mail.rcpt_tos == [SUPERVISORS]
    message = pause_mail.message
    assert message["Subject"] == "[Respectline] Agent One paused for 15 min after Threat"
    body = message.get_content()
    assert "Agent:    Agent One (PJSIP/agent1)" in body
    assert f"Case:     {case.id} (respectline cases show {case.id})" in body
    assert "lift it by hand: no AMI account is configured" in body  # the test config has no AMI account
    assert CALLER not in pause_mail.raw.decode()


def test_verbal_abuse_mails_special_care_only_when_the_second_flag_opens_the_case(
        config_tree: ConfigTree, tmp_path: Path) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    with smtp_server() as (port, inbox), running(config_tree, tmp_path, email_config(port)) as stack:
        first, _ = stack.flag("verbal_abuse", "1700000000.53")
        time.sleep(0.5)  # a mail the warning wrongly sent would have arrived by now
        assert inbox.delivered == []
        stack.flag("verbal_abuse", "1700000000.53", first.variables)
        stack.mail.close(timeout=10)
    assert [len(inbox.to(a)) for a in (SPECIAL_CARE, SECURITY, SUPERVISORS)] == [1, 0, 1]
    assert inbox.to(SPECIAL_CARE)[0].message["Subject"].endswith("Verbal abuse, priority normal")


def test_the_full_caller_number_is_mailed_only_when_configured(config_tree: ConfigTree, tmp_path: Path) -> None:
    with smtp_server() as (port, inbox), \
            running(config_tree, tmp_path, email_config(port, include_caller_number=True)) as stack:
        stack.flag("threat", "1700000000.54")
        stack.mail.close(timeout=10)
    [team_mail] = inbox.to(SECURITY)
    assert f"Caller:   {CALLER}" in team_mail.message.get_content()


def test_no_email_config_sends_nothing(config_tree: ConfigTree, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="respectline.email"), smtp_server() as (_port, inbox), \
            running(config_tree, tmp_path) as stack:
        channel, _ = stack.flag("threat", "1700000000.55")
        stack.mail.close(timeout=10)
        assert len(stack.store.list_cases()) == 1
    assert channel.sent("HANGUP") == [["HANGUP"]]
    assert inbox.delivered == []
    assert stack.mail.sent == stack.mail.failed == stack.mail.dropped == 0
    assert not [r for r in caplog.records if r.name == "respectline.email"]


@pytest.mark.parametrize("outage", ["closed port", "server that never answers"])
def test_a_mail_server_down_neither_delays_nor_fails_the_flag(config_tree: ConfigTree, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture, outage: str) -> None:
    # The normal time of this flag session, with no e-mail at all.
    with running(config_tree, tmp_path, name="baseline") as baseline_stack:
        baseline_stack.flag("threat", "1700000000.60")
        _, normal = baseline_stack.flag("threat", "1700000000.61")
    config_tree.config.write_text(config_tree.config.read_text().split("\nnotifications:")[0])
    with caplog.at_level(logging.WARNING, logger="respectline.email"), silent_server() as silent:
        port = free_port() if outage == "closed port" else silent
        with running(config_tree, tmp_path, email_config(port, timeout="3s"), name="outage") as stack:
            channel, took = stack.flag("threat", "1700000000.62")
            # The call went on: the caller heard the closing message and was disconnected, the case opened.
            assert [c[2] for c in channel.sent("STREAM")][-1] == "respectline/nl/abuse_closing_threat"
            assert channel.sent("HANGUP") == [["HANGUP"]]
            assert len(stack.store.list_cases()) == 1
            stack.mail.close(timeout=10)  # let the worker give up on both mails
    # Sending in the call's path would have cost the whole 3 s timeout for the silent server.
    assert took < normal + 1.0, f"flag took {took:.2f} s with the mail server down, {normal:.2f} s normally"
    assert stack.mail.failed == 2 and stack.mail.sent == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == "respectline.email"]
    expected = "connection refused" if outage == "closed port" else "no answer within 3 s"
    assert any(f"SMTP server 127.0.0.1:{port}" in w and expected in w and SECURITY in w for w in warnings), warnings


def plain_message(to: str = SECURITY) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "respectline@example.org", to, "test"
    message.set_content("hello\n")
    return message


def test_a_full_queue_drops_with_a_warning_and_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    mail = MailQueue(size=1)
    with caplog.at_level(logging.WARNING, logger="respectline.email"), silent_server() as port:
        smtp = SmtpSettings(host="127.0.0.1", port=port, timeout=1.0)
        started = time.monotonic()
        accepted = [mail.submit(smtp, plain_message(), f"test {n}") for n in range(5)]
        took = time.monotonic() - started
        mail.close(timeout=3)
    assert took < 0.2
    assert accepted.count(False) >= 3  # one mail in the worker's hands at most, one waiting
    assert mail.dropped == accepted.count(False)
    assert any("dropped" in r.getMessage() and f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_is_used_when_configured_and_a_refused_one_is_logged_with_the_smtp_answer(
        caplog: pytest.LogCaptureFixture) -> None:
    mail = MailQueue()
    with caplog.at_level(logging.WARNING, logger="respectline.email"), \
            smtp_server(Login("respectline", "s3cret")) as (port, inbox):
        good = SmtpSettings(host="127.0.0.1", port=port, username="respectline", password="s3cret")
        bad = SmtpSettings(host="127.0.0.1", port=port, username="respectline", password="wrong")
        assert mail.submit(good, plain_message(), "good login")
        assert mail.submit(bad, plain_message(SUPERVISORS), "bad login")
        mail.close(timeout=10)
    assert [d.rcpt_tos for d in inbox.delivered] == [[SECURITY]]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "respectline.email"]
    assert f"SMTP server 127.0.0.1:{port}" in warning and "535" in warning and "bad login" in warning
