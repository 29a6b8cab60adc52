"""Optional e-mail notifications: a new case to its team, an agent's recovery pause to the supervisors.

``respectline serve`` owns one :class:`MailQueue` (a bounded queue and its sending thread) and offers
it to handlers as ``ctx.services.mail``; a handler builds an :class:`EmailNotifier` from its own
configuration bundle, so a reload applies to the next call. Without ``notifications.email`` in the
config, or without a queue, nothing is sent.
"""

from agi_scripts.notify.mailer import MailQueue
from agi_scripts.notify.messages import CaseNotice, EmailNotifier, LadderMail, PauseNotice

__all__ = ["CaseNotice", "EmailNotifier", "LadderMail", "MailQueue", "PauseNotice"]
