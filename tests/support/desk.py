"""The desk in tests: an in-process client (Starlette's TestClient) logged in as a role, cheap password
hashes, and a store with one case per team, evidence files and compliments."""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from starlette.testclient import TestClient

from agi_scripts.config.settings import LanguageSettings, Settings
from agi_scripts.desk.app import DeskOptions
from agi_scripts.desk.security import SessionRules
from agi_scripts.flows.abuse_policy import AbusePolicy, load_abuse_policy
from agi_scripts.storage import Case, Store
from agi_scripts.storage.desk import DeskStore, Role
from agi_scripts.storage.screening import ScreeningStore
from tests.support.config_tree import PROJECT

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Tests make many logins: a hash of a few milliseconds instead of argon2-cffi's 64 MiB (same algorithm)."""
PASSWORD = "correct horse battery"
USERS: dict[str, tuple[Role, str | None, str | None]] = {
    "care": ("special_care", "special_care", None),
    "sec": ("security", "security", None),
    "boss": ("supervisor", None, None),
    "root": ("admin", None, None),
    "one": ("agent", None, "Agent One"),
    "two": ("agent", None, "Agent Two"),
}
SECURITY_CALLER = "+32471234512"
CARE_CALLER = "+32470999888"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def shipped_policy() -> AbusePolicy:
    errors: list[object] = []
    policy = load_abuse_policy(PROJECT / "flows" / "abuse_policy.yaml", errors)  # type: ignore[arg-type]
    assert not errors, errors
    return policy


def desk_options(store_url: str, recordings: Path, **rules: float) -> DeskOptions:
    """The shipped policy; pages in English for a client that sends no ``Accept-Language`` (the shipped
    config's ``language.default`` is nl), so tests read the message ids; tests of languages send one."""
    return DeskOptions(store_url=store_url, settings=Settings(file=PROJECT / "config" / "respectline.yaml",
                                                              language=LanguageSettings(default="en")),
                       policy=shipped_policy(), recordings=(recordings,),
                       rules=SessionRules(**rules))  # type: ignore[arg-type]


def tone(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x10\x20" * int(seconds * rate))
    return path


@dataclass
class World:
    security_case: Case
    care_case: Case
    compliment_one: int
    compliment_two: int


def add_users(store: Store) -> None:
    desk = DeskStore(store)
    for name, (role, team, agent) in USERS.items():
        desk.add_user(name, role, CHEAP_HASHER.hash(PASSWORD), team=team, agent=agent)


def fill(store: Store, recordings: Path) -> World:
    """Two users per kind, a threat case for Security with evidence, a verbal abuse case for Special
    Care, and a recorded compliment for each agent."""
    add_users(store)
    evidence = tone(recordings / "evidence" / "2025" / "03" / "c1.wav", seconds=2.0)
    security_case = store.open_case(category="threat", team="security", priority=1, caller=SECURITY_CALLER,
                                    agent="Agent One", queue="support", call_id="c1", recording=str(evidence))
    store.record_call_start("c1", caller=SECURITY_CALLER, queue="support", language="en", route="support")
    care_case = store.open_case(category="verbal_abuse", team="special_care", priority=3, caller=CARE_CALLER,
                                agent="Agent Two", queue="billing", call_id="c2",
                                recording=str(tone(recordings / "evidence" / "2025" / "03" / "c2.wav")))
    ids = []
    for call_id, agent in (("c3", "Agent One"), ("c4", "Agent Two")):
        compliment = store.start_compliment(call_id, agent=agent, queue="support", campaign=None)
        store.set_compliment_rating(compliment, 5)
        store.set_compliment_recording(compliment, str(tone(recordings / "compliments" / f"{call_id}.wav")))
        ScreeningStore(store).screen(compliment, "released", "", only_from=("unscreened",))  # as its transcript would
        ids.append(compliment)
    return World(security_case, care_case, ids[0], ids[1])


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log ``client`` in; the session's CSRF token."""
    page = client.get("/login")
    assert page.status_code == 200
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": name, "password": password},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    home = client.get(answer.headers["location"])
    assert home.status_code == 200, home.text
    return csrf_of(home.text)
