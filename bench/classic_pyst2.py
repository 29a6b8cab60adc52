"""One classic AGI call: what Asterisk runs from agi-bin, one process per call, with pyst2.

stdin and stdout are the call (the launcher hands this process the accepted socket, as Asterisk
hands an agi-bin script its pipes). The script reads the environment with pyst2, picks the handler
by the script name and runs it. pyst2 writes its debug trace (whole environment, every command) to
stderr; the launcher points stderr at /dev/null, as a quiet agi-bin setup would.
"""

from __future__ import annotations

import sys

from asterisk.agi import AGI

from bench_handlers import HANDLERS, dialplan_args  # this folder is sys.path[0] when run as a script


def main() -> int:
    agi = AGI()
    env = agi.env
    script = env.get("agi_network_script", "").partition("?")[0].strip("/")
    handler = HANDLERS.get(script)
    if handler is None:
        sys.stdout.write("FAILURE\n")
        return 1
    handler(agi, env, dialplan_args(env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
