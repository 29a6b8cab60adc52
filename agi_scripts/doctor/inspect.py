"""How doctor asks Asterisk: AMI actions and CLI commands through AMI ``Command``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage


class PermissionDenied(AmiError):
    """The AMI account may not run this action; the message names the action."""


class Inspector(Protocol):
    def cli(self, command: str) -> str:
        """The output of an Asterisk CLI command (also when the command itself failed)."""

    def get_config(self, filename: str, category: str | None = None) -> Mapping[str, str]:
        """The AMI ``GetConfig`` answer for a file as Asterisk reads it (includes and templates applied)."""


def denied(response: Mapping[str, str]) -> bool:
    return response.get("Response", "").lower() == "error" and "permission denied" in response.get("Message", "").lower()


class AmiInspector:
    """:class:`Inspector` over a logged-in :class:`AmiClient`."""

    def __init__(self, client: AmiClient) -> None:
        self.client = client

    def cli(self, command: str) -> str:
        response = self.client.send_action("Command", {"Command": command}, check=False)
        if denied(response):
            raise PermissionDenied(f"Command ({command})")
        return response.get("Output", "")

    def get_config(self, filename: str, category: str | None = None) -> AmiMessage:
        fields = {"Filename": filename, **({"Category": category} if category else {})}
        response = self.client.send_action("GetConfig", fields, check=False)
        if denied(response):
            raise PermissionDenied(f"GetConfig ({filename})")
        return response
