"""The trusted proxy header through a real ``respectline desk`` process (uvicorn, its proxy-headers
handling, our peer recording), over real sockets: the header is honoured from the listed address
only. A second loopback address (127.0.0.2) plays the machine that is not the proxy."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agi_scripts.desk.security import SESSION_COOKIE
from agi_scripts.storage import Store
from tests.support.config_tree import ConfigTree
from tests.support.desk import add_users
from tests.support.desk_process import DeskProcess


@pytest.fixture
def desk(config_tree: ConfigTree, store: Store, store_url: str, tmp_path: Path) -> Iterator[DeskProcess]:
    add_users(store)
    text = config_tree.config.read_text()
    section = "  trusted_proxy:\n    header: X-Remote-User\n    from: [127.0.0.1]\n"
    if "\ndesk:" in text:
        head, _, tail = text.partition("\ndesk:")
        first_line_end = tail.index("\n") + 1
        text = head + "\ndesk:" + tail[:first_line_end] + section + tail[first_line_end:]
    else:
        text += "\ndesk:\n" + section
    config_tree.config.write_text(text)
    with DeskProcess(config_tree.config, store_url, tmp_path / "desk.log") as process:
        yield process


def ask(desk: DeskProcess, path: str, *, source: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    address = urlsplit(desk.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10,
                                            source_address=(source, 0))
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_the_header_is_honoured_from_the_proxy_address_only(desk: DeskProcess) -> None:
    from_proxy = ask(desk, "/inbox", source="127.0.0.1", headers={"X-Remote-User": "sec"})
    assert from_proxy.status == 200
    assert f"{SESSION_COOKIE}=" in (from_proxy.getheader("set-cookie") or "")

    # The spoofing twin: the same header from another address is ignored.
    elsewhere = ask(desk, "/inbox", source="127.0.0.2", headers={"X-Remote-User": "sec"})
    assert elsewhere.status == 303 and (elsewhere.getheader("location") or "").startswith("/login")
    assert not elsewhere.getheader("set-cookie")

    # Claiming to come through the proxy does not make another machine the proxy...
    claimed = ask(desk, "/inbox", source="127.0.0.2",
                  headers={"X-Remote-User": "sec", "X-Forwarded-For": "127.0.0.1"})
    assert claimed.status == 303
    # ...and the proxy naming the browser's address in X-Forwarded-For is still the proxy.
    forwarded = ask(desk, "/inbox", source="127.0.0.1",
                    headers={"X-Remote-User": "sec", "X-Forwarded-For": "192.0.2.10"})
    assert forwarded.status == 200
    assert ask(desk, "/inbox", source="127.0.0.1", headers={"X-Remote-User": "nobody"}).status == 303
