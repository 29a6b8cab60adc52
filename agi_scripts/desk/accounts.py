"""Desk accounts made from the command line: the first admin, and the demo's one account per role."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from agi_scripts.desk.passwords import check_new_password, hash_password
from agi_scripts.storage import Store
from agi_scripts.storage.desk import TEAM_ROLES, DeskStore, DeskUser, Role


@dataclass(frozen=True)
class NewAccount:
    name: str
    role: Role
    team: str | None = None
    agent: str | None = None
    language: str | None = None
    """None: the desk follows the browser's language until the user chooses one on My settings."""
    phone: str | None = None


DEMO_ACCOUNTS = (
    NewAccount("care", "special_care", team="special_care", phone="PJSIP/care1"),
    NewAccount("security", "security", team="security", phone="PJSIP/security1"),
    NewAccount("supervisor", "supervisor"),
    NewAccount("admin", "admin"),
    NewAccount("agent1", "agent", agent="Agent One"),
)
"""The demo's staff: Special Care and Security of the shipped abuse policy, and the demo's Agent One."""


def add_account(store: Store, account: NewAccount, password: str) -> DeskUser:
    """A new desk user (ValueError for a weak password or fields that do not fit the role)."""
    check_new_password(password)
    team = account.team or (account.role if account.role in TEAM_ROLES else None)
    agent = account.agent or (account.name if account.role == "agent" else None)
    return DeskStore(store).add_user(account.name, account.role, hash_password(password), team=team, agent=agent,
                                     language=account.language, phone=account.phone)


def demo_accounts(store: Store) -> list[tuple[NewAccount, str]]:
    """One account per role with a new random password each (an existing one gets a new password)."""
    desk = DeskStore(store)
    made = []
    for account in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        if desk.user_named(account.name) is None:
            add_account(store, account, password)
        else:
            desk.set_password(account.name, hash_password(password))
        made.append((account, password))
    return made
