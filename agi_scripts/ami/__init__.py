"""Asterisk Manager Interface: a small blocking client for events and queue actions."""
