"""The AGI protocol: a safe pyst2 ``AGI`` over a line transport, escaping and reply parsing."""

from agi_scripts.protocol.errors import (BlockingCallTimeout, ChannelHungUp, CommandTimeout, UnsafeCommand,
                                         UsageError)
from agi_scripts.protocol.safe_agi import SafeAGI
from agi_scripts.protocol.timeouts import CommandTimeouts
from agi_scripts.protocol.transport import FileLineTransport, LineTransport

__all__ = [
    "BlockingCallTimeout", "ChannelHungUp", "CommandTimeout", "CommandTimeouts", "FileLineTransport",
    "LineTransport", "SafeAGI", "UnsafeCommand", "UsageError",
]
