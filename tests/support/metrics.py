"""Reading a running process's ``GET /metrics`` the way Prometheus does, for tests that check counters moved."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(port: int, path: str = "/metrics", host: str = "127.0.0.1", method: str = "GET") -> tuple[int, str, str]:
    """(status, content type, body) of one plain HTTP/1.0 request."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers.get("content-type", ""), body.decode()


def parse(text: str) -> Samples:
    """Every sample by (name, labels)."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(port: int, path: str = "/metrics") -> Samples:
    status, _type, body = fetch(port, path)
    assert status == 200, f"GET {path} answered {status}"
    return parse(body)


def value(samples: Samples, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample's value; 0 when the series does not exist yet (a counter not moved)."""
    return samples.get((name, frozenset((labels or {}).items())), 0.0)
