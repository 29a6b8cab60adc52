"""The ``desk:`` section of ``config/respectline.yaml``: settings of ``respectline desk``.

``trusted_proxy`` (off by default) lets a reverse proxy that has authenticated the user (a centre's
SSO) tell the desk who it is, in one request header. The desk honours the header only on
connections from the listed proxy addresses and only for a desk user that already exists (it never
creates one); see docs/configuration.md for the risks.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from yaml.nodes import Node

from agi_scripts.config.desk_due import DueTimes, read_due
from agi_scripts.ground.yamlsource import YamlFile

HEADER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
RESERVED_HEADERS = frozenset({"cookie", "authorization", "host", "x-forwarded-for", "x-forwarded-proto",
                              "content-type", "content-length", "origin", "referer", "user-agent", "forwarded"})
"""Headers browsers or the desk's own proxy handling set: naming one would hand identity to the client."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxy:
    header: str
    """The request header naming the authenticated user, lower case (``x-remote-user``)."""
    peers: tuple[Network, ...]
    """The proxy's addresses: only a TCP peer among them may set the header."""

    def trusts(self, peer: str | None) -> bool:
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == network.version and address in network for network in self.peers)


@dataclass(frozen=True)
class DeskSettings:
    trusted_proxy: TrustedProxy | None = None
    """None (the default): no header is trusted; users log in with their password."""
    due: DueTimes = field(default_factory=DueTimes)
    """How long a case of each priority may wait (``desk.due``, see ``config.desk_due``)."""


def read_desk(source: YamlFile, node: Node | None) -> DeskSettings:
    section = source.mapping(node, optional=("trusted_proxy", "due"), what="'desk' section")
    if section is None:
        return DeskSettings()
    return DeskSettings(trusted_proxy=_trusted_proxy(source, section.get("trusted_proxy")),
                        due=read_due(source, section.get("due")))


def _trusted_proxy(source: YamlFile, node: Node | None) -> TrustedProxy | None:
    proxy = source.mapping(node, required=("header", "from"), what="'desk.trusted_proxy' section")
    if proxy is None:
        return None
    header_node = proxy.get("header")
    header = source.string(header_node, "a header name", pattern=HEADER_PATTERN,
                           pattern_hint="letters, digits and '-', for example X-Remote-User")
    if header is not None and header.lower() in RESERVED_HEADERS:
        source.error(header_node, f"{header} cannot carry the user: browsers or proxies set it themselves",
                     "use a header only your proxy sets, for example X-Remote-User")
        header = None
    peers: list[Network] = []
    from_node = proxy.get("from")
    items = source.sequence(from_node, "list of proxy addresses")
    if from_node is not None and not items:
        source.error(from_node, "the list of proxy addresses is empty: the header would be trusted from no one",
                     "list your reverse proxy's address, for example [127.0.0.1] or [10.0.0.7]")
    for item in items:
        text = source.string(item, "an IP address or network")
        if text is None:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            source.error(item, f"{text!r} is not an IP address or network", "for example 127.0.0.1 or 10.0.0.0/24")
            continue
        if network.prefixlen == 0:
            source.error(item, f"{text} trusts every address: anyone could name themselves as any user",
                         "list only your reverse proxy's address")
            continue
        peers.append(network)
    if header is None or not peers:
        return None
    return TrustedProxy(header=header.lower(), peers=tuple(peers))
