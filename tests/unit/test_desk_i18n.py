"""The desk in Dutch, French and English: complete catalogs, the language of each page (the user's
choice, else the browser's, else the config's), dates per language, due times per priority and the
inbox filters, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po, write_po
from starlette.testclient import TestClient

from agi_scripts.config.desk_due import DueTimes
from agi_scripts.desk import i18n, passwords
from agi_scripts.desk.app import create_app
from agi_scripts.desk.i18n import LANGUAGES, from_accept_language, read_catalog
from agi_scripts.desk.timeline import case_timeline
from agi_scripts.storage import Store
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.migrations import MIGRATIONS, Migration
from agi_scripts.storage.postgres import PostgresStore
from agi_scripts.storage.sqlite import SqliteStore
from tests.support.cli_runner import Cli
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import ConfigTree
from tests.support.desk import CHEAP_HASHER, PASSWORD, World, csrf_of, desk_options, fill, log_in
from tests.support.desk_messages import code_messages, plural_messages, policy_labels

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def untranslated(catalog: i18n.Catalog) -> list[str]:
    """Every message the desk can show that ``catalog`` lacks (or has empty, or fuzzy)."""
    wanted = set(code_messages()) | policy_labels()
    missing = []
    for message in sorted(wanted):
        text = catalog.messages.get(message)
        if not text or (isinstance(text, tuple) and not all(text)):
            missing.append(message)
    return missing


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != i18n.SOURCE_LANGUAGE])
def test_every_message_is_translated(language: i18n.Language) -> None:
    catalog = read_catalog(language)
    missing = untranslated(catalog)
    assert not missing, (f"locale/{language}.po lacks {len(missing)} message(s); add them (msgid is the English "
                         f"text, see code_messages() for where each is used): {missing}")


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_translations_keep_their_placeholders(language: i18n.Language) -> None:
    catalog = read_catalog(language)
    plurals = plural_messages()
    for message, text in catalog.messages.items():
        forms = text if isinstance(text, tuple) else (text,)
        expected = set(PLACEHOLDER.findall(message)) | set(PLACEHOLDER.findall(plurals.get(message, "")))
        for form in forms:
            assert set(PLACEHOLDER.findall(form)) == expected, (language, message, form)


def test_a_catalog_missing_a_message_is_caught(tmp_path: Path) -> None:
    """The rude twin of the completeness test: drop one message, and one made fuzzy, from a copy."""
    with (i18n.LOCALE_DIR / "fr.po").open("rb") as file:
        po = read_po(file, locale="fr")
    del po["Assign to me"]
    po["Close the case"].flags.add("fuzzy")
    copy = tmp_path / "fr.po"
    with copy.open("wb") as file:
        write_po(file, po)
    assert untranslated(read_catalog("fr", copy)) == ["Assign to me", "Close the case"]


def test_a_missing_message_shows_in_english_not_as_nothing() -> None:
    catalog = read_catalog("nl")
    assert catalog.gettext("Assign to me") == "Aan mij toewijzen"
    assert catalog.gettext("a message nobody wrote") == "a message nobody wrote"
    assert catalog.ngettext("Too many failed logins. Try again in %(seconds)d second.",
                            "Too many failed logins. Try again in %(seconds)d seconds.", 3).endswith("seconden opnieuw.")


@pytest.mark.parametrize(("header", "expected"), [
    ("fr-BE,fr;q=0.9,en;q=0.8", "fr"),
    ("de-DE,de;q=0.9,nl;q=0.5,fr;q=0.7", "fr"),
    ("nl-be", "nl"),
    ("EN_gb", "en"),
    ("de, it", "nl"),  # nothing the desk has: the default
    ("", "nl"),
    ("fr;q=0, en;q=abc, nl;q=0.1", "nl"),  # q=0 means "not this"; a bad q counts as 0
    (";;;,,,q=1", "nl"),
    ("x" * 10_000 + ",fr", "nl"),  # read only so far
])
def test_the_browsers_language(header: str, expected: str) -> None:
    assert from_accept_language(header, "nl") == expected


def test_dates_and_times_are_written_per_language() -> None:
    moment = dt.datetime(2026, 12, 6, 7, 30, 5, tzinfo=dt.timezone.utc)
    brussels = ZoneInfo("Europe/Brussels")
    assert i18n.format_moment(moment, "nl", brussels) == "06-12-2026, 08:30"
    assert i18n.format_moment(moment, "fr", brussels) == "06/12/2026 08:30"
    assert i18n.format_moment(moment, "en", brussels) == "06/12/2026, 08:30"
    assert i18n.format_moment(moment, "fr", brussels, seconds=True) == "6 déc. 2026, 08:30:05"
    assert i18n.format_moment(moment, "nl", brussels, seconds=True) == "6 dec 2026, 08:30:05"


# ---------------------------------------------------------------- pages


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    return fill(store, recordings)


@pytest.fixture
def client(store: Store, store_url: str, recordings: Path, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(desk_options(store_url, recordings), store)) as test_client:
        yield test_client


def lang_of(html: str) -> str:
    match = re.search(r'<html lang="(\w+)">', html)
    assert match, html[:200]
    return match.group(1)


def test_the_login_page_speaks_the_browsers_language(client: TestClient) -> None:
    french = client.get("/login", headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert lang_of(french.text) == "fr" and "Mot de passe" in french.text and "Aller au contenu" in french.text
    dutch = client.get("/login", headers={"Accept-Language": "nl-BE"})
    assert lang_of(dutch.text) == "nl" and "Wachtwoord" in dutch.text
    unknown = client.get("/login", headers={"Accept-Language": "de-DE"})
    assert lang_of(unknown.text) == "en" and "Password" in unknown.text  # the tests' desk_options default


def test_a_wrong_password_is_told_in_the_browsers_language(client: TestClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "fr"})
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "name": "sec", "password": "wrong!"},
                         headers={"Accept-Language": "fr"})
    assert answer.status_code == 401 and "Nom ou mot de passe incorrect." in answer.text


def test_a_user_chooses_their_language_and_keeps_it_whatever_the_browser(client: TestClient, store: Store,
                                                                         world: World) -> None:
    csrf = log_in(client, "sec")
    client.headers["Accept-Language"] = "fr"
    before = client.get("/my/settings")
    assert lang_of(before.text) == "fr" and "le desk suit la langue de votre navigateur" in before.text
    saved = client.post("/my/settings", data={"csrf": csrf, "language": "nl"})
    assert saved.status_code == 200 and lang_of(saved.text) == "nl" and "Opgeslagen." in saved.text
    user = DeskStore(store).user_named("sec")
    assert user is not None and user.language == "nl" and user.language_chosen_at is not None
    inbox = client.get("/inbox")  # the browser still says French
    assert lang_of(inbox.text) == "nl" and "Inbox: Security" in inbox.text and "dringend" in inbox.text and "Te behandelen vóór" in inbox.text
    case = client.get(f"/cases/{world.security_case.id}")
    assert "Aan mij toewijzen" in case.text and "Bedreiging" in case.text and "zaak geopend" in case.text
    assert "categorie Bedreiging, team Security" in case.text
    assert any(e.action == "language_chosen" and e.detail == "nl" for e in DeskStore(store).audit_entries(limit=20))


@pytest.mark.parametrize("bad", ["de", "", "nl-BE", "<script>", "x" * 5000])
def test_a_language_the_desk_does_not_have_is_refused(client: TestClient, store: Store, bad: str) -> None:
    csrf = log_in(client, "care")
    answer = client.post("/my/settings", data={"csrf": csrf, "language": bad})
    assert answer.status_code == 400 and "Choose one of the languages in the list." in answer.text
    assert "<script>" not in answer.text
    user = DeskStore(store).user_named("care")
    assert user is not None and user.language_chosen_at is None


def test_the_settings_form_needs_its_csrf_token(client: TestClient, store: Store) -> None:
    log_in(client, "one")
    answer = client.post("/my/settings", data={"language": "fr"})
    assert answer.status_code == 403
    user = DeskStore(store).user_named("one")
    assert user is not None and user.language_chosen_at is None


@pytest.mark.parametrize("name", ["care", "sec", "boss", "root", "one"])
def test_every_role_has_my_settings_in_its_menu(client: TestClient, name: str) -> None:
    log_in(client, name)
    home = client.get("/")
    assert 'href="/my/settings"' in home.text and home.text.count("<h1>") == 1


def test_a_user_made_with_a_language_has_chosen_it(store: Store) -> None:
    desk = DeskStore(store)
    chosen = desk.add_user("fr1", "agent", CHEAP_HASHER.hash(PASSWORD), agent="Agent F", language="fr")
    unchosen = desk.add_user("any1", "agent", CHEAP_HASHER.hash(PASSWORD), agent="Agent A")
    assert chosen.language == "fr" and chosen.language_chosen_at is not None
    assert unchosen.language_chosen_at is None


# ---------------------------------------------------------------- due times and filters


def test_due_times_are_read_and_checked(config_tree: ConfigTree) -> None:
    config = "config/respectline.yaml"
    config_tree.replace(config, "    urgent: 1h\n", "    urgent: soon\n")
    config_tree.replace(config, "    low: 3d\n", "    low: 3d\n    someday: 9d\n")
    errors = errors_of(config_tree)
    bad = only(errors, "the due time of a urgent case")
    assert (bad.line, bad.column) == (config_tree.line_of(config, "urgent: soon"), 13)
    unknown = only(errors, "someday")
    assert unknown.line == config_tree.line_of(config, "someday: 9d")


def test_a_more_urgent_priority_may_not_wait_longer(config_tree: ConfigTree) -> None:
    config = "config/respectline.yaml"
    config_tree.replace(config, "    high: 4h\n", "    high: 2d\n")
    error = only(errors_of(config_tree), "is due later")
    assert error.line == config_tree.line_of(config, "high: 2d") and "a normal one (1d)" in error.message


def test_due_times_per_priority() -> None:
    due = DueTimes()
    opened = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.timezone.utc)
    assert due.due_at(1, opened) == opened + dt.timedelta(hours=1)
    assert due.due_at(4, opened) == opened + dt.timedelta(days=3)
    assert due.due_at(99, opened) == opened + dt.timedelta(days=3)  # an unknown priority waits as low


def open_cases(store: Store) -> dict[str, int]:
    """Besides fill()'s two (security urgent, care normal): Security cases of each kind."""
    now = utc_now()
    made = {}
    for name, priority, category, age in (("late_high", 2, "threat", dt.timedelta(hours=5)),
                                           ("fresh_high", 2, "verbal_abuse", dt.timedelta(minutes=5)),
                                           ("late_low", 4, "threat", dt.timedelta(days=4)),
                                           ("old_urgent", 1, "threat", dt.timedelta(hours=3))):
        case = store.open_case(category=category, team="security", priority=priority, caller="+32470000001",
                               agent="Agent One", queue="support", call_id=f"f-{name}", at=now - age)
        made[name] = case.id
    return made


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-case-id="(\d+)"', html)]


def test_the_inbox_marks_overdue_cases_in_words_and_sorts_most_urgent_then_oldest(
        client: TestClient, store: Store, world: World) -> None:
    made = open_cases(store)
    log_in(client, "sec")
    page = client.get("/inbox").text
    # urgent: the 3-hour-old one before fill()'s fresh one; then high, oldest first; then low.
    assert rows(page) == [made["old_urgent"], world.security_case.id, made["late_high"], made["fresh_high"],
                          made["late_low"]]
    late = re.search(rf'<tr data-case-id="{made["old_urgent"]}".*?</tr>', page, re.S)
    assert late and "overdue by 2 h" in late.group(0) and "overdue" in late.group(0).split(">")[0]
    fresh = re.search(rf'<tr data-case-id="{made["fresh_high"]}".*?</tr>', page, re.S)
    assert fresh and "overdue" not in fresh.group(0)


def test_the_inbox_filters(client: TestClient, store: Store, world: World) -> None:
    made = open_cases(store)
    csrf = log_in(client, "sec")
    assert rows(client.get("/inbox?priority=high").text) == [made["late_high"], made["fresh_high"]]
    assert rows(client.get("/inbox?category=verbal_abuse").text) == [made["fresh_high"]]
    assert rows(client.get("/inbox?overdue=1").text) == [made["old_urgent"], made["late_high"], made["late_low"]]
    assert rows(client.get("/inbox?priority=high&overdue=1").text) == [made["late_high"]]
    client.post(f"/cases/{made['late_low']}/assign", data={"csrf": csrf, "assignee": "sec"})
    assert rows(client.get("/inbox?assignment=mine").text) == [made["late_low"]]
    assert made["late_low"] not in rows(client.get("/inbox?assignment=unassigned").text)
    # The live rows follow the same filters, and the page tells its script so.
    page = client.get("/inbox?priority=high&overdue=1").text
    assert 'data-live-url="/inbox/rows?priority=high&amp;overdue=1"' in page
    assert rows(client.get("/inbox/rows?priority=high&overdue=1").text) == [made["late_high"]]
    empty = client.get("/inbox?category=discrimination").text
    assert rows(empty) == [] and "No open case matches these filters." in empty


@pytest.mark.parametrize("query", ["priority=%27%3B--", "category=<b>x</b>", "assignment=everyone", "overdue=yes",
                                   "team=special_care", "priority=" + "h" * 5000])
def test_filters_it_does_not_know_show_everything_of_the_own_team(client: TestClient, store: Store, world: World,
                                                                  query: str) -> None:
    made = open_cases(store)
    log_in(client, "sec")
    page = client.get(f"/inbox?{query}")
    assert page.status_code == 200 and "<b>x</b>" not in page.text
    assert sorted(rows(page.text)) == sorted([world.security_case.id, *made.values()])  # never Special Care's


def test_the_timeline_in_french(store: Store) -> None:
    """The details the server writes in English read in the user's language; a note stays as written."""
    opened = store.open_case(category="threat", team="security", priority=1, caller="", agent="Agent One",
                             queue="support", call_id="t1")
    store.add_case_event(opened.id, "agent_paused", "Agent One for 15 min")
    store.add_case_event(opened.id, "note", "Rappelé, for 15 min", author="sec")
    store.close_case(opened.id, "spoke_with_caller", author="sec")
    case = store.get_case(opened.id)
    assert case is not None
    catalog = read_catalog("fr")
    labels = {"threat": "Menace", "security": "Sécurité", "spoke_with_caller": "Entretien avec l'appelant"}
    entries = case_timeline(case, None, [], catalog, labels.__getitem__, labels.__getitem__, labels.__getitem__)
    assert [(e.what, e.detail) for e in entries] == [
        ("dossier ouvert", "catégorie Menace, équipe Sécurité"), ("agent mis en pause pour récupérer",
                                                                   "Agent One pour 15 min"),
        ("note", "Rappelé, for 15 min"), ("dossier clôturé", "Entretien avec l'appelant")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_users_made_before_migration_6_keep_a_language_they_were_given(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """``add-user --language fr`` before version 6 had chosen French; the old default, English, was
    nobody's choice: after the upgrade those users get their browser's language until they choose."""
    url = f"sqlite:///{tmp_path / 's.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")

    def at_version(migrations: tuple[Migration, ...]) -> SqliteStore | PostgresStore:
        if backend == "sqlite":
            return SqliteStore(str(tmp_path / "s.sqlite"), migrations=migrations)
        return PostgresStore(url, migrations=migrations)

    made = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
    old = at_version(MIGRATIONS[:5])
    with old.dialect.write() as tx:
        for name, language in (("fr1", "fr"), ("en1", "en")):
            tx.insert("INSERT INTO desk_users (name, role, password_hash, team, language, created_at)"
                      " VALUES (?, 'security', 'x', 'security', ?, ?)", (name, language, made))
    old.close()
    upgraded = at_version(MIGRATIONS)
    try:
        desk = DeskStore(upgraded)
        french, english = desk.user_named("fr1"), desk.user_named("en1")
        assert french is not None and french.language == "fr" and french.language_chosen_at == made
        assert english is not None and english.language_chosen_at is None
    finally:
        upgraded.close()


def test_desk_users_says_whose_language_follows_the_browser(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, extra in (("Lia", ["--language", "fr"]), ("Bo", [])):
        monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
        cli.ok("desk", "add-user", name, "--role", "security", *extra)
    lines = {line.split()[0]: line for line in cli.ok("desk", "users").splitlines() if line.strip()}
    assert lines["Lia"].split()[-1] == "fr" and lines["Bo"].split()[-1] == "browser's"


@pytest.mark.parametrize(("name", "path", "english", "french"), [
    ("boss", "/reports", ["Incidents per month", "Compliments per agent", "Campaigns: the A/B result"],
     ["Incidents par mois", "Compliments par agent", "Campagnes : le résultat A/B", "Rapports"]),
    ("boss", "/review/compliments", ["Held compliments", "Follow-ups of low ratings"],
     ["Compliments à examiner", "Compliments retenus", "Suivis des notes basses"]),
    ("root", "/admin/config", ["The ladder per category", "Post-call flow", "Campaigns running now"],
     ["L'échelle par catégorie", "Parcours après l'appel", "Campagnes en cours", "Configuration en vigueur"]),
    ("root", "/admin/users", ["Phone for calling back", "Save the phone"],
     ["Téléphone pour les rappels", "Enregistrer le téléphone"]),
    ("sec", "/cases/1", ["Call back"], ["Rappeler", "Le rappel est désactivé"]),
])
def test_the_other_pages_speak_french_too(client: TestClient, world: World, name: str, path: str,
                                          english: list[str], french: list[str]) -> None:
    assert world.security_case.id == 1
    log_in(client, name)
    page = client.get(path, headers={"Accept-Language": "fr-BE"})
    assert page.status_code == 200 and lang_of(page.text) == "fr"
    for words in french:
        assert words in page.text, words
    for words in english:
        assert f">{words}<" not in page.text, words
