"""Sending e-mail on one background thread, so no call ever waits for an SMTP server.

A handler hands a ready message to :meth:`MailQueue.submit`, which never blocks: the message goes
into a bounded queue, or is dropped with a warning when the queue is full (an SMTP server down for
a long time must not grow memory without end). The worker sends one message per SMTP connection,
with a timeout on the connection and on every command, and logs each failure with the server,
port and SMTP answer an operator needs to fix it. Nothing is ever raised to the caller.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from agi_scripts.config.settings import SmtpSettings

LOG = logging.getLogger("respectline.email")

DEFAULT_QUEUE_SIZE = 100


@dataclass(frozen=True)
class MailJob:
    smtp: SmtpSettings
    """The settings of the bundle the call started with: a reload applies to the next mail."""
    message: EmailMessage
    about: str
    """A few words for the log (``case 12 to special_care``)."""


class MailQueue:
    """A bounded queue of mails and the thread that sends them; lives as long as the server."""

    def __init__(self, size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue: queue.Queue[MailJob | None] = queue.Queue(maxsize=size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def submit(self, smtp: SmtpSettings, message: EmailMessage, about: str) -> bool:
        """Queue ``message`` for sending; False (and a warning) when it was dropped. Never blocks."""
        with self._lock:
            if self._closed:
                LOG.warning("e-mail (%s) not sent: the server is stopping", about)
                return False
            try:
                self._start_worker()
            except RuntimeError as error:  # no thread to be had (interpreter stopping, limits): drop, never raise
                LOG.warning("e-mail (%s) not sent: cannot start the sending thread: %s", about, error)
                return False
            try:
                self._queue.put_nowait(MailJob(smtp, message, about))
            except queue.Full:
                self.dropped += 1
                LOG.warning("e-mail (%s) dropped: %d e-mails are already waiting for the SMTP server %s:%d; "
                            "check that it is reachable", about, self._queue.qsize(), smtp.host, smtp.port)
                return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop; what is left is logged."""
        with self._lock:
            self._closed = True
            worker = self._thread
        if worker is None:
            return
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            LOG.warning("stopping with e-mail still unsent (about %d): the SMTP server did not take it within "
                        "%g s", max(1, self._queue.qsize()), timeout)

    def _start_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="respectline-email", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                send(job)
                self.sent += 1
            except Exception as exc:  # the worker must outlive any failure, or no mail would go again
                self.failed += 1
                LOG.warning("e-mail (%s) to %s not sent: SMTP server %s:%d: %s", job.about,
                            ", ".join(recipients(job.message)), job.smtp.host, job.smtp.port,
                            describe(exc, job.smtp.timeout))


def send(job: MailJob) -> None:
    """One message over one SMTP connection; raises on any failure."""
    smtp = job.smtp
    # An explicit HELO name: smtplib would otherwise ask DNS for this host's FQDN, which can stall.
    with smtplib.SMTP(smtp.host, smtp.port, local_hostname=socket.gethostname() or "localhost",
                      timeout=smtp.timeout) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password)
        refused = client.send_message(job.message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    LOG.info("e-mail (%s) sent to %s", job.about, ", ".join(recipients(job.message)))


def recipients(message: EmailMessage) -> list[str]:
    return [a.strip() for a in str(message.get("To", "")).split(",") if a.strip()]


def describe(exc: BaseException, timeout: float) -> str:
    """What went wrong, in the words an operator searches for."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + "; ".join(f"{rcpt}: {code} {_text(answer)}"
                                                  for rcpt, (code, answer) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"no answer within {timeout:g} s (notifications.email.smtp.timeout): {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is an SMTP server listening there?)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
