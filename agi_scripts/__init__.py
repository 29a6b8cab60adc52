"""Respectline: hold campaigns, post-call compliments and an abuse policy for Asterisk contact centres."""

__version__ = "0.1.0"
