"""``GET /metrics`` of a running ``respectline desk`` process after real requests: requests by route template
and status, their latency, the open live streams and the refused logins move; no user name, case number or
made-up path becomes a label."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx  # the test extra brings httpx2 (Starlette's TestClient uses it); same client API
import pytest

from agi_scripts.storage import open_store
from agi_scripts.storage.desk import DeskStore
from tests.support.config_tree import PROJECT
from tests.support.desk import CHEAP_HASHER, PASSWORD
from tests.support.desk_process import DeskProcess
from tests.support.metrics import Samples, parse, value

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(url)
    try:
        DeskStore(store).add_user("care", "special_care", CHEAP_HASHER.hash(PASSWORD), team="special_care")
        store.open_case(category="verbal_abuse", team="special_care", priority=3, caller="+32470999888",
                        agent="Agent Two", queue="billing", call_id="c2")
    finally:
        store.close()
    with DeskProcess(PROJECT / "config" / "respectline.yaml", url, tmp_path / "desk.log") as process:
        yield process.url


def _scrape(client: httpx.Client) -> tuple[Samples, str]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text), answer.text


def _log_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = _CSRF.search(form.text)
    assert token
    return client.post("/login", data={"csrf": token.group(1), "name": name, "password": password})


def test_requests_logins_and_live_streams_are_counted(desk: str) -> None:
    with httpx.Client(base_url=desk, timeout=10) as client:
        before, _text = _scrape(client)
        assert _log_in(client, "care", "not the password").status_code == 401
        assert _log_in(client, "care", PASSWORD).status_code == 303
        assert client.get("/inbox").status_code == 200
        assert client.get("/cases/1").status_code == 200
        assert client.get("/cases/999999").status_code == 404
        assert client.get("/no/such/page/care-+32470999888").status_code == 404
        with client.stream("GET", "/inbox/events", headers={"accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            during, _text = _scrape(httpx.Client(base_url=desk, timeout=10))
        deadline = time.monotonic() + 5
        while True:
            after, text = _scrape(client)
            if value(after, "respectline_desk_live_streams") == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)

    def moved(name: str, labels: dict[str, str]) -> float:
        return value(after, name, labels) - value(before, name, labels)

    assert value(during, "respectline_desk_live_streams") == 1
    assert value(after, "respectline_desk_live_streams") == 0
    assert moved("respectline_desk_failed_logins_total", {"reason": "refused"}) == 1
    assert moved("respectline_desk_requests_total", {"route": "/login", "method": "POST", "status": "401"}) == 1
    assert moved("respectline_desk_requests_total", {"route": "/login", "method": "POST", "status": "303"}) == 1
    assert moved("respectline_desk_requests_total", {"route": "/inbox", "method": "GET", "status": "200"}) == 1
    case_page = {"route": "/cases/{case_id}", "method": "GET"}
    assert moved("respectline_desk_requests_total", {**case_page, "status": "200"}) == 1
    assert moved("respectline_desk_requests_total", {**case_page, "status": "404"}) == 1
    assert moved("respectline_desk_requests_total", {"route": "unmatched", "method": "GET", "status": "404"}) == 1
    assert moved("respectline_desk_request_duration_seconds_count", {"route": "/inbox"}) == 1
    assert "+32470999888" not in text and "care-" not in text and "999999" not in text
    assert 'name="care"' not in text and "/no/such" not in text
    assert "respectline_sessions_active" not in text  # the FastAGI server's metrics are its own


def test_throttled_logins_count_as_throttled(desk: str) -> None:
    with httpx.Client(base_url=desk, timeout=10) as client:
        before, _text = _scrape(client)
        statuses = [_log_in(client, "care", "wrong").status_code for _attempt in range(8)]
        after, _text = _scrape(client)
    assert 429 in statuses, statuses
    refused = value(after, "respectline_desk_failed_logins_total", {"reason": "refused"}) - \
        value(before, "respectline_desk_failed_logins_total", {"reason": "refused"})
    throttled = value(after, "respectline_desk_failed_logins_total", {"reason": "throttled"}) - \
        value(before, "respectline_desk_failed_logins_total", {"reason": "throttled"})
    assert refused == statuses.count(401) and throttled == statuses.count(429)
