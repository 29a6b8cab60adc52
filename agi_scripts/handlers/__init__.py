"""The public AGI scripts, one module each, its function's name its route; ``ROUTES`` is what
``respectline serve`` hands the server (``agi_scripts.server.registry.route_table`` refuses a name
given twice)."""

from agi_scripts.handlers.agent_line import agent_line
from agi_scripts.handlers.call_ended import call_ended
from agi_scripts.handlers.flag import flag
from agi_scripts.handlers.listen_in import listen_in
from agi_scripts.handlers.manager_line import manager_line
from agi_scripts.handlers.my_compliments import my_compliments
from agi_scripts.handlers.post_call import post_call
from agi_scripts.handlers.screen import screen
from agi_scripts.server.registry import route_table

ROUTES = route_table(screen, post_call, flag, my_compliments, manager_line, call_ended, agent_line, listen_in)

__all__ = ["ROUTES"]
