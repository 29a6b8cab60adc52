"""A trusted reverse proxy's user header (``desk.trusted_proxy``): honoured from the listed proxy
addresses for an existing, enabled desk user only; ignored from any other peer (the spoofing twin),
for unknown or disabled users, repeated or malformed values; the peer is the connection's own, not
what ``X-Forwarded-For`` claims; and the config section's errors come with file:line:col and a hint."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agi_scripts.config.desk_settings import DeskSettings, TrustedProxy
from agi_scripts.config.settings import load_settings
from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.desk.proxy_login import RecordPeer
from agi_scripts.desk.serve import behind_proxy, forwarding_peers
from agi_scripts.desk.security import SESSION_COOKIE
from agi_scripts.ground.errors import ConfigError
from agi_scripts.storage import Store
from agi_scripts.storage.desk import DeskStore
from tests.support.config_tree import ConfigTree
from tests.support.desk import CHEAP_HASHER, World, desk_options, fill

PROXY = "10.0.0.7"
RULE = TrustedProxy(header="x-remote-user", peers=(ipaddress.ip_network("10.0.0.7/32"),))


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return fill(store, tmp_path / "recordings")


def app_with(store: Store, store_url: str, tmp_path: Path, rule: TrustedProxy | None):  # type: ignore[no-untyped-def]
    options = desk_options(store_url, tmp_path / "recordings")
    settings = replace(options.settings, desk=DeskSettings(trusted_proxy=rule))
    return create_app(replace(options, settings=settings), store)


@pytest.fixture
def from_proxy(store: Store, store_url: str, tmp_path: Path, world: World) -> Iterator[TestClient]:
    with TestClient(app_with(store, store_url, tmp_path, RULE), client=(PROXY, 40000)) as client:
        yield client


@pytest.fixture
def from_elsewhere(store: Store, store_url: str, tmp_path: Path, world: World) -> Iterator[TestClient]:
    with TestClient(app_with(store, store_url, tmp_path, RULE), client=("10.0.0.8", 40000)) as client:
        yield client


def test_the_proxys_header_logs_an_existing_user_in_with_an_audited_session(
        from_proxy: TestClient, store: Store, world: World) -> None:
    page = from_proxy.get("/inbox", headers={"X-Remote-User": "sec"}, follow_redirects=False)
    assert page.status_code == 200
    assert f'data-case-id="{world.security_case.id}"' in page.text
    assert SESSION_COOKIE in page.headers.get("set-cookie", "")
    login = DeskStore(store).audit_entries(limit=1)[0]
    assert (login.actor, login.action, login.detail) == ("sec", "login", "trusted proxy header")
    # The session it started carries on: no second login for the next request.
    assert from_proxy.get(f"/cases/{world.security_case.id}", headers={"X-Remote-User": "sec"}).status_code == 200
    assert [e.action for e in DeskStore(store).audit_entries(limit=3)].count("login") == 1
    # Its access rules are the user's own.
    assert from_proxy.get(f"/cases/{world.care_case.id}", headers={"X-Remote-User": "sec"}).status_code == 403


def test_the_header_decides_who_the_user_is_while_the_proxy_sends_it(from_proxy: TestClient, world: World) -> None:
    assert from_proxy.get("/inbox", headers={"X-Remote-User": "sec"}).status_code == 200
    # Same browser (cookie of sec), the proxy now says care: care's rights, not sec's.
    assert from_proxy.get(f"/cases/{world.security_case.id}", headers={"X-Remote-User": "care"}).status_code == 403
    assert from_proxy.get(f"/cases/{world.care_case.id}", headers={"X-Remote-User": "care"}).status_code == 200
    assert from_proxy.get("/", headers={"X-Remote-User": "root"}, follow_redirects=False).headers["location"] \
        == "/admin/users"


def test_the_spoofing_twin_a_header_from_an_untrusted_peer_is_ignored(
        from_elsewhere: TestClient, store: Store, world: World) -> None:
    page = from_elsewhere.get("/inbox", headers={"X-Remote-User": "boss"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
    assert from_elsewhere.get("/live/body", headers={"X-Remote-User": "boss"}).status_code == 401
    assert from_elsewhere.get("/login", headers={"X-Remote-User": "boss"}).status_code == 200  # the form
    assert "login" not in [e.action for e in DeskStore(store).audit_entries(limit=10)]


@pytest.mark.parametrize("headers", [
    {"X-Remote-User": "nobody"},             # not a desk user: never created
    {"X-Remote-User": ""},
    {"X-Remote-User": "sec\x7f"},
    {"X-Remote-User": "x" * 81},
    {"X-Other-User": "sec"},
])
def test_an_unknown_empty_or_malformed_name_logs_no_one_in(from_proxy: TestClient, store: Store, world: World,
                                                            headers: dict[str, str]) -> None:
    answer = from_proxy.get("/inbox", headers=headers, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert DeskStore(store).user_named("nobody") is None


def test_a_repeated_header_is_ignored(from_proxy: TestClient, world: World) -> None:
    answer = from_proxy.get("/inbox", headers=[("X-Remote-User", "sec"), ("X-Remote-User", "boss")],
                            follow_redirects=False)
    assert answer.status_code == 303


def test_a_disabled_user_is_not_logged_in_by_the_header(from_proxy: TestClient, store: Store, world: World) -> None:
    desk = DeskStore(store)
    with desk.dialect.write() as tx:
        tx.run("UPDATE desk_users SET disabled_at = created_at WHERE name = ?", ("sec",))
    assert from_proxy.get("/inbox", headers={"X-Remote-User": "sec"}, follow_redirects=False).status_code == 303


def test_without_the_setting_the_header_means_nothing(store: Store, store_url: str, tmp_path: Path,
                                                      world: World) -> None:
    with TestClient(app_with(store, store_url, tmp_path, None), client=(PROXY, 40000)) as client:
        assert client.get("/inbox", headers={"X-Remote-User": "sec"}, follow_redirects=False).status_code == 303


def test_the_peer_is_the_connections_own_not_what_x_forwarded_for_claims(
        store: Store, store_url: str, tmp_path: Path, world: World) -> None:
    # As served: uvicorn's proxy headers (from the loopback) inside RecordPeer.
    served = RecordPeer(ProxyHeadersMiddleware(app_with(store, store_url, tmp_path, RULE),  # type: ignore[arg-type]
                                               trusted_hosts="127.0.0.1"))
    with TestClient(served, client=("127.0.0.1", 40000)) as client:
        claimed = client.get("/inbox", headers={"X-Remote-User": "sec", "X-Forwarded-For": PROXY},
                             follow_redirects=False)
        assert claimed.status_code == 303
    with TestClient(served, client=(PROXY, 40000)) as client:
        assert client.get("/inbox", headers={"X-Remote-User": "sec"}).status_code == 200
    # An IPv4 proxy reaching an IPv6 socket is still itself.
    assert RULE.trusts("::ffff:10.0.0.7") and not RULE.trusts("::ffff:10.0.0.8") and not RULE.trusts("testclient")


def _seen_by_the_desk(settings_proxy: TrustedProxy | None, peer: str, headers: dict[str, str]) -> tuple[str, str]:
    """(client address, scheme) the desk's app sees behind ``serve.behind_proxy``, for a connection from ``peer``."""
    seen: dict[str, str] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["client"], seen["scheme"] = scope["client"][0], scope["scheme"]
        await PlainTextResponse("ok")(scope, receive, send)

    client = TestClient(behind_proxy(app, settings_proxy), client=(peer, 40000))  # no lifespan: a bare app
    assert client.get("/", headers=headers).status_code == 200
    return seen["client"], seen["scheme"]


FORWARDED = {"X-Forwarded-For": "192.0.2.5", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_are_believed_from_the_configured_proxy_only() -> None:
    """A proxy on another host: each browser keeps its own address (login throttling per browser, not
    everyone locked out together) and https marks the cookies Secure."""
    assert _seen_by_the_desk(RULE, PROXY, FORWARDED) == ("192.0.2.5", "https")
    assert _seen_by_the_desk(RULE, "::ffff:10.0.0.7", FORWARDED) == ("192.0.2.5", "https")  # IPv4 on a :: socket
    assert _seen_by_the_desk(RULE, "10.0.0.8", FORWARDED) == ("10.0.0.8", "http")  # anyone else: their own
    assert _seen_by_the_desk(RULE, "127.0.0.1", FORWARDED) == ("127.0.0.1", "http")  # not the loopback then


def test_without_a_trusted_proxy_the_loopback_is_believed_on_ipv4_and_ipv6() -> None:
    assert _seen_by_the_desk(None, "127.0.0.1", FORWARDED) == ("192.0.2.5", "https")
    assert _seen_by_the_desk(None, "::1", FORWARDED) == ("192.0.2.5", "https")
    assert _seen_by_the_desk(None, PROXY, FORWARDED) == (PROXY, "http")
    assert forwarding_peers(None) == ["127.0.0.1", "::1", "::ffff:127.0.0.1"]


# ---------------------------------------------------------------- the config section


def with_desk_keys(tree: ConfigTree, keys: str) -> int:
    """``keys`` (indented two spaces) into the config's ``desk:`` section, made when there is none; their first line."""
    lines = tree.config.read_text().splitlines()
    if "desk:" not in [line.split("#")[0].strip() for line in lines]:
        lines += ["", "desk:"]
    at = next(n for n, line in enumerate(lines) if line.split("#")[0].strip() == "desk:") + 1
    lines[at:at] = keys.rstrip("\n").split("\n")
    tree.config.write_text("\n".join(lines) + "\n")
    return at + 1


def settings_errors(tree: ConfigTree, keys: str) -> tuple[list[ConfigError], int]:
    first_line = with_desk_keys(tree, keys)
    errors: list[ConfigError] = []
    load_settings(tree.config, errors)
    return errors, first_line


def test_a_good_section_is_read(config_tree: ConfigTree) -> None:
    with_desk_keys(config_tree,
                   "  trusted_proxy:\n    header: X-Remote-User\n    from: [127.0.0.1, 10.0.0.0/24, \"::1\"]")
    errors: list[ConfigError] = []
    rule = load_settings(config_tree.config, errors).desk.trusted_proxy
    assert errors == []
    assert rule is not None and rule.header == "x-remote-user"
    assert rule.trusts("10.0.0.200") and rule.trusts("::1") and not rule.trusts("10.0.1.1")


def test_without_the_section_nothing_is_trusted(config_tree: ConfigTree) -> None:
    assert load_settings(config_tree.config, []).desk.trusted_proxy is None


@pytest.mark.parametrize("section, message, hint", [
    ("  trusted_proxy:\n    header: Cookie\n    from: [10.0.0.7]\n", "Cookie cannot carry the user",
     "X-Remote-User"),
    ("  trusted_proxy:\n    header: X-Remote-User\n    from: []\n", "list of proxy addresses is empty",
     "reverse proxy's address"),
    ("  trusted_proxy:\n    header: X-Remote-User\n    from: [0.0.0.0/0]\n", "trusts every address",
     "only your reverse proxy"),
    ("  trusted_proxy:\n    header: X-Remote-User\n    from: [proxy.example.org]\n",
     "is not an IP address or network", "10.0.0.0/24"),
    ("  trusted_proxy:\n    header: \"X Remote: User\"\n    from: [10.0.0.7]\n", "header name",
     "letters, digits"),
    ("  trusted_proxy:\n    header: X-Remote-User\n", "from", ""),
    ("  trusted_porxy: {}\n", "trusted_porxy", ""),
])
def test_a_bad_section_is_refused_with_line_column_and_hint(config_tree: ConfigTree, section: str, message: str,
                                                            hint: str) -> None:
    errors, first_line = settings_errors(config_tree, section)
    assert errors, section
    error = errors[0]
    assert message in error.message, error
    assert hint in error.hint, error
    assert first_line <= error.line <= first_line + 3 and error.column >= 1
    assert load_settings(config_tree.config, []).desk.trusted_proxy is None
