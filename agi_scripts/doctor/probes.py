"""Network probes with bounded timeouts: the FastAGI server's health and the server's AMI account."""

from __future__ import annotations

import socket
import time

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage
from agi_scripts.ground.redact import printable

HEALTH_REQUEST = b"GET /health HTTP/1.0\r\nHost: respectline\r\n\r\n"
MAX_ANSWER = 8192
PROBE_INTERFACE = "Local/respectline-doctor-probe@respectline-doctor"
"""A queue member no queue has: QueuePause answers 'Interface not found' when it is permitted."""


def health_status_line(host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
    """(status line of ``GET /health``, None) or (None, why it could not be had)."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout) as connection:
            connection.sendall(HEALTH_REQUEST)
            answer = b""
            while b"\r\n" not in answer and len(answer) < MAX_ANSWER:
                left = deadline - time.monotonic()
                if left <= 0:  # a peer trickling bytes must not stretch the probe past its timeout
                    return None, f"no complete answer within {timeout:g} s"
                connection.settimeout(left)
                chunk = connection.recv(1024)
                if not chunk:
                    break
                answer += chunk
    except OSError as exc:
        return None, str(exc) or type(exc).__name__
    line = printable(answer.split(b"\r\n", 1)[0].decode("ascii", errors="replace").strip(), 200)
    if not line.startswith("HTTP/"):
        return None, f"not an HTTP answer: {printable(line, 60)}" if line else "the connection closed without an answer"
    return line, None


def server_account_answers(host: str, port: int, username: str, secret: str,
                           timeout: float) -> tuple[AmiMessage, AmiMessage]:
    """Logs in as the server would and asks, without side effects, (QueuePause of a member that does
    not exist, Command 'core show version'). Raises :class:`AmiError` when it cannot log in."""
    with AmiClient(host, port, timeout=timeout) as client:
        client.login(username, secret)
        pause = client.send_action("QueuePause", {"Interface": PROBE_INTERFACE, "Paused": "false",
                                                  "Reason": "respectline doctor probe"}, check=False)
        command = client.send_action("Command", {"Command": "core show version"}, check=False)
        client.logoff()
    return pause, command


__all__ = ["AmiError", "health_status_line", "server_account_answers"]
