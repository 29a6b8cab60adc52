"""The e-mails Respectline sends: a new case to its team, an agent's recovery pause to the supervisors.

Plain text, and nothing in them that the team cannot see with ``respectline cases show``: the
caller's number is masked as in the logs unless ``include_caller_number`` is true, and the
recording is never attached (it stays on the server with the case, under the retention rules).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from agi_scripts.config.settings import EmailSettings
from agi_scripts.flows.abuse_policy import length_text
from agi_scripts.ground.redact import mask_number
from agi_scripts.notify.mailer import MailQueue
from agi_scripts.storage.base import Escalation

if TYPE_CHECKING:
    from agi_scripts.config.bundle import Bundle

LOG = logging.getLogger("respectline.email")

@dataclass(frozen=True)
class CaseNotice:
    case_id: int
    team: str
    category: str
    priority: str
    queue: str
    agent: str
    caller: str
    """The full number; the message masks it unless configured otherwise."""
    opened_at: dt.datetime


@dataclass(frozen=True)
class PauseNotice:
    agent: str
    interface: str
    category: str
    queue: str
    case_id: int | None
    paused_at: dt.datetime
    resume_at: dt.datetime


class LadderMail:
    """The abuse ladder's notifier (``flows.ladder.Notifier``) over e-mail: never raises."""

    def __init__(self, email: EmailNotifier) -> None:
        self.email = email

    def case_opened(self, escalation: Escalation, case_id: int, priority: str) -> None:
        team = escalation.case.team if escalation.case else ""
        self.email.case_opened(CaseNotice(case_id, team, escalation.category, priority, escalation.queue,
                                          escalation.agent, escalation.caller, escalation.at))

    def agent_paused(self, escalation: Escalation, case_id: int | None) -> None:
        if escalation.pause is not None:
            self.email.agent_paused(PauseNotice(escalation.agent, escalation.pause.agent, escalation.category,
                                                escalation.queue, case_id, escalation.at,
                                                escalation.pause.resume_at))


class EmailNotifier:
    """The e-mails of one call, under the configuration bundle that call started with."""

    def __init__(self, settings: EmailSettings | None, mail: MailQueue | None, bundle: Bundle) -> None:
        self.settings, self.mail, self.bundle = settings, mail, bundle

    def case_opened(self, notice: CaseNotice) -> bool:
        """Tell the case's team; True if a mail was queued. Never raises."""
        if self.settings is None:
            return False
        addresses = self.settings.teams.get(notice.team, ())
        if not addresses:
            LOG.debug("no e-mail address for team %s; case %d not mailed", notice.team, notice.case_id)
            return False
        return self._queue(addresses, lambda: self._case_mail(notice), f"case {notice.case_id} to {notice.team}")

    def agent_paused(self, notice: PauseNotice) -> bool:
        """Tell the supervisors; True if a mail was queued. Never raises."""
        if self.settings is None or not self.settings.supervisors:
            return False
        return self._queue(self.settings.supervisors, lambda: self._pause_mail(notice),
                           f"pause of {notice.interface or notice.agent} to supervisors")

    def _queue(self, to: tuple[str, ...], compose: Callable[[], tuple[str, str]], about: str) -> bool:
        assert self.settings is not None
        if self.mail is None:
            LOG.debug("e-mail (%s) not sent: this process has no mail queue", about)
            return False
        try:
            subject, body = compose()
            message = self._message(to, subject, body)
        except Exception:  # a surprise in a notification must never reach the call
            LOG.exception("e-mail (%s) could not be composed; not sent", about)
            return False
        return self.mail.submit(self.settings.smtp, message, about)

    def _message(self, to: tuple[str, ...], subject: str, body: str) -> EmailMessage:
        assert self.settings is not None
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
        # The sender's domain: make_msgid would otherwise ask DNS for this host's name.
        message["Message-ID"] = make_msgid("respectline", domain=self.settings.sender.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
        message.set_content(body)
        return message

    def _case_mail(self, n: CaseNotice) -> tuple[str, str]:
        team = self._team_name(n.team)
        category = self._category_label(n.category)
        subject = f"[Respectline] Case {n.case_id} for {team}: {category}, priority {n.priority}"
        body = "\n".join([
            f"A new case was opened for {team}.",
            "",
            *_table([("Case", str(n.case_id)), ("Team", f"{team} ({n.team})"),
                     ("Category", f"{category} ({n.category})"), ("Priority", n.priority),
                     ("Queue", n.queue or "-"), ("Agent", n.agent or "unknown"),
                     ("Caller", self._caller(n.caller)), ("Opened", self._time(n.opened_at))]),
            "",
            "To open it, with its timeline and recording:",
            f"  respectline cases show {n.case_id}",
            "",
            "The recording stays on the server with the case; it is never sent by e-mail.",
        ])
        return subject, body + "\n"

    def _pause_mail(self, n: PauseNotice) -> tuple[str, str]:
        agent = n.agent or n.interface or "an agent"
        category = self._category_label(n.category)
        subject = (f"[Respectline] {agent} paused for {length_text((n.resume_at - n.paused_at).total_seconds())} "
                   f"after {category}")
        resumes = self._time(n.resume_at) + (
            " (automatically)" if self.bundle.settings.ami.enabled
            else " (lift it by hand: no AMI account is configured)")
        case = f"{n.case_id} (respectline cases show {n.case_id})" if n.case_id is not None else "none"
        body = "\n".join([
            f"{agent} was paused in their queues after a caller was flagged for {category.lower()},",
            "to give them time to recover. You may want to check in with them.",
            "",
            *_table([("Agent", f"{agent} ({n.interface})" if n.interface and n.interface != agent else agent),
                     ("Queue", n.queue or "-"), ("Category", f"{category} ({n.category})"),
                     ("Paused", self._time(n.paused_at)), ("Resumes", resumes), ("Case", case)]),
        ])
        return subject, body + "\n"

    def _caller(self, number: str) -> str:
        assert self.settings is not None
        if not number:
            return "withheld"
        return number if self.settings.include_caller_number else mask_number(number)

    def _team_name(self, team: str) -> str:
        found = self.bundle.abuse_policy.teams.get(team)
        return found.name if found else team

    def _category_label(self, category: str) -> str:
        found = self.bundle.abuse_policy.categories.get(category)
        return found.label if found else category

    def _time(self, moment: dt.datetime) -> str:
        zone = self.bundle.settings.timezone
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


def _table(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows]
