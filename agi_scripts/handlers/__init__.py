"""The public AGI scripts, one module each, its function name its route; importing registers them."""

from agi_scripts.handlers import flag, my_compliments, post_call, screen

__all__ = ["flag", "my_compliments", "post_call", "screen"]
