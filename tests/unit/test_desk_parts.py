"""The desk's parts on their own: range requests, ages, passwords, the case outcomes in the abuse
policy (errors with file:line:col), and ``respectline desk add-user / set-password / users``."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from agi_scripts.desk import passwords
from agi_scripts.desk.app import age_text
from agi_scripts.desk.evidence import Slice, Unsatisfiable, parse_range
from agi_scripts.flows.abuse_policy import DEFAULT_CASE_OUTCOMES
from agi_scripts.storage import Store
from agi_scripts.storage.desk import DeskStore
from tests.support.cli_runner import Cli
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import ConfigTree
from tests.support.desk import CHEAP_HASHER


@pytest.mark.parametrize(("header", "expected"), [
    (None, Slice(0, 999, 1000, False)), ("bytes=0-", Slice(0, 999, 1000, True)),
    ("bytes=10-19", Slice(10, 19, 1000, True)), ("bytes=990-2000", Slice(990, 999, 1000, True)),
    ("bytes=-100", Slice(900, 999, 1000, True)), ("bytes=-5000", Slice(0, 999, 1000, True)),
    ("bytes=20-10", Slice(0, 999, 1000, False)), ("bytes=0-1,5-6", Slice(0, 999, 1000, False)),
    ("items=0-1", Slice(0, 999, 1000, False)), ("bytes=-", Slice(0, 999, 1000, False)),
])
def test_a_range_header_asks_for_one_part_or_else_the_whole_file(header: str | None, expected: Slice) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_cannot_be_satisfied(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, 1000)


def test_ages_read_as_people_say_them() -> None:
    now = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)
    assert [age_text(now - delta, now) for delta in (
        timedelta(seconds=5), timedelta(minutes=12), timedelta(hours=3), timedelta(hours=3, minutes=5),
        timedelta(days=2), timedelta(days=2, hours=4), timedelta(seconds=-3))] == [
        "5 s", "12 min", "3 h", "3 h 5 min", "2 d", "2 d 4 h", "0 s"]


def test_passwords_are_argon2id_and_checked() -> None:
    hashed = passwords.hash_password("a long passphrase")
    assert hashed.startswith("$argon2id$") and "m=65536" in hashed
    assert passwords.verify_password(hashed, "a long passphrase")
    assert not passwords.verify_password(hashed, "another one")
    assert not passwords.verify_password("not a hash", "a long passphrase")
    assert not passwords.verify_unknown_user("anything")
    assert passwords.needs_rehash(CHEAP_HASHER.hash("x")) and not passwords.needs_rehash(hashed)
    for weak in ("short", "x" * 2000):
        with pytest.raises(ValueError):
            passwords.check_new_password(weak)


# ---------------------------------------------------------------- outcomes in the abuse policy


def test_the_shipped_policy_names_the_outcomes_and_a_file_without_them_gets_the_defaults(
        config_tree: ConfigTree) -> None:
    from agi_scripts.flows.abuse_policy import load_abuse_policy

    errors: list[object] = []
    shipped = load_abuse_policy(config_tree.path("flows/abuse_policy.yaml"), errors)  # type: ignore[arg-type]
    assert not errors and list(shipped.case_outcomes) == ["spoke_with_caller", "no_contact", "police_report_filed",
                                                          "access_restricted"]
    text = config_tree.path("flows/abuse_policy.yaml").read_text()
    start = text.index("  # How Special Care")
    config_tree.path("flows/abuse_policy.yaml").write_text(text[:start] + text[text.index("  # Aftercare"):])
    assert load_abuse_policy(config_tree.path("flows/abuse_policy.yaml"), errors).case_outcomes == \
        DEFAULT_CASE_OUTCOMES  # type: ignore[arg-type]
    assert not errors


@pytest.mark.parametrize(("old", "new", "needle", "fragment"), [
    ("    no_contact: Could not reach the caller\n", "    No Contact!: Could not reach the caller\n",
     "No Contact!", "not an outcome id"),
    ("    no_contact: Could not reach the caller\n", "    no_contact: ''\n", "no_contact:", "empty value"),
    ("    no_contact: Could not reach the caller\n", "    no_contact: [a, b]\n", "no_contact:", "a label"),
])
def test_a_wrong_outcome_is_reported_at_its_line_and_column(
        config_tree: ConfigTree, old: str, new: str, needle: str, fragment: str) -> None:
    config_tree.replace("flows/abuse_policy.yaml", old, new)
    error = only(errors_of(config_tree), fragment)
    assert error.file.name == "abuse_policy.yaml"
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", needle) and error.column > 1


def test_an_empty_outcome_list_is_an_error(config_tree: ConfigTree) -> None:
    text = config_tree.path("flows/abuse_policy.yaml").read_text()
    start, end = text.index("  outcomes:\n"), text.index("  teams:")
    config_tree.path("flows/abuse_policy.yaml").write_text(text[:start] + "  outcomes: {}\n\n" + text[end:])
    error = only(errors_of(config_tree), "'outcomes' list is empty")
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", "outcomes: {}")


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


def test_add_user_reads_the_password_from_standard_input_and_checks_role_and_team(
        cli: Cli, store: Store, monkeypatch: pytest.MonkeyPatch, cheap_hashes: None) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    assert "desk user Sam added (special_care, team special_care)" in cli.ok(
        "desk", "add-user", "Sam", "--role", "special_care", "--phone", "PJSIP/care1")
    user = DeskStore(store).user_named("Sam")
    assert user is not None and user.phone == "PJSIP/care1"
    assert passwords.verify_password(user.password_hash, "a good long password")
    for argv, message in ((("Sam", "--role", "admin"), "exists already"),
                          (("Kim", "--role", "security", "--team", "nope"), "not a team of the abuse policy"),
                          (("Kim", "--role", "admin", "--team", "security"), "--team is for"),
                          (("Kim", "--role", "supervisor", "--agent", "A"), "--agent is for")):
        monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
        code, _out, err = cli.run("desk", "add-user", *argv)
        assert code != 0 and message in err, (argv, err)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _out, err = cli.run("desk", "add-user", "Kim", "--role", "admin")
    assert code == 2 and "at least 10 characters" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long password\n"))
    assert "agent Agent One" in cli.ok("desk", "add-user", "one", "--role", "agent", "--agent", "Agent One")
    listing = cli.ok("desk", "users")
    assert "Sam" in listing and "Agent One" in listing and "$argon2" not in listing
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert "new password set for Sam" in cli.ok("desk", "set-password", "Sam")
    assert passwords.verify_password(DeskStore(store).user_named("Sam").password_hash,  # type: ignore[union-attr]
                                     "another long password")
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    code, _out, err = cli.run("desk", "set-password", "Nobody")
    assert code == 1 and "no desk user named 'Nobody'" in err


def test_the_demo_gets_one_account_per_role_with_a_new_password_each_run(
        store: Store, cheap_hashes: None) -> None:
    from agi_scripts.desk.accounts import demo_accounts
    from agi_scripts.storage.desk import ROLES

    first = demo_accounts(store)
    assert sorted(account.role for account, _ in first) == sorted(ROLES)
    desk = DeskStore(store)
    for account, password in first:
        user = desk.user_named(account.name)
        assert user is not None and passwords.verify_password(user.password_hash, password)
    assert desk.user_named("agent1").agent == "Agent One"  # type: ignore[union-attr]
    again = demo_accounts(store)
    assert len(desk.users()) == len(ROLES)
    assert all(old != new for (_, old), (_, new) in zip(first, again))
    assert passwords.verify_password(desk.user_named("care").password_hash, again[0][1])  # type: ignore[union-attr]


def test_the_store_options_count_before_and_after_the_action() -> None:
    from agi_scripts.cli.main import build_parser

    for argv in (["desk", "--db", "sqlite:///x.sqlite", "users"], ["desk", "users", "--db", "sqlite:///x.sqlite"]):
        args = build_parser().parse_args(argv)
        assert (args.db, args.func.__name__) == ("sqlite:///x.sqlite", "run_users"), argv
    assert build_parser().parse_args(["desk", "--listen", "127.0.0.1:0"]).func.__name__ == "run_desk"
