"""Who may see and do what on the desk: pure rules, tested role by role.

- ``special_care`` and ``security``: the cases of their own team (the team in their profile), and
  everything on them: view, evidence, the police report, assign, note, close.
- ``supervisor``: the same for every team's cases.
- ``admin``: the users and the configuration, no case.
- ``agent``: their own compliments and their own incidents, never a case page nor a caller's number.
"""

from __future__ import annotations

from agi_scripts.storage.desk import TEAM_ROLES, DeskUser, Role

CASE_ROLES: frozenset[Role] = frozenset({"special_care", "security", "supervisor"})
"""Roles that work cases (each within ``may_work_case``)."""
AGENT_ROLES: frozenset[Role] = frozenset({"agent"})
ADMIN_ROLES: frozenset[Role] = frozenset({"admin"})


def may_work_case(user: DeskUser, case_team: str) -> bool:
    """Whether ``user`` may open a case of ``case_team``, hear its evidence, export it and change it."""
    if user.role == "supervisor":
        return True
    if user.role in TEAM_ROLES:
        return user.team is not None and user.team == case_team
    return False


def inbox_team(user: DeskUser, asked: str | None) -> str | None:
    """The team whose inbox ``user`` sees: their own; a supervisor sees all (None) or the one asked for."""
    if user.role in TEAM_ROLES:
        return user.team
    return asked or None


def home(user: DeskUser) -> str:
    """The first page after logging in."""
    if user.role in CASE_ROLES:
        return "/inbox"
    if user.role == "agent":
        return "/my/compliments"
    return "/admin/users"
