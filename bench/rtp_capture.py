"""RTP and FastAGI on the loopback interface, stamped by the kernel as they pass: where
``bench/protection.py`` sees when an agent's key was sent, when Asterisk connected to the server and
when each AGI command and reply crossed, and when a caller got the first audio of a prompt.

One ``AF_PACKET`` socket on ``lo`` (needs root or ``CAP_NET_RAW``) with a small BPF filter: UDP
packets from or to a port in the pjsua2 peers' media range, and TCP segments from or to the FastAGI
server's port, as received (loopback shows every packet twice, once going out and once coming in;
the filter keeps the second, which the kernel stamps in the same instant). ``SO_TIMESTAMPNS`` gives
each packet the kernel's time on the wall clock, so the reader thread may be late (Python's GIL, a
busy machine) without changing any time. RTP packets are kept only for the ports the bench asks for
(:meth:`RtpCapture.watch`); FastAGI connections only when they run the ``flag`` script.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from types import TracebackType

ETH_P_IP = 0x0800
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
SKF_AD_PKTTYPE = -0x1000 + 4
"""BPF ancillary load of the packet's type (host, outgoing...)."""
RECEIVE_BUFFER = 8 * 1024 * 1024
PEER_MEDIA_PORTS = (30000, 40000)
"""pjsua2 peers of the sandbox take their RTP ports in 30000-39999 (``agi_scripts/sandbox/sip.py``);
Asterisk's are 10000-28000, so every RTP packet between them has one end in this range."""

# Classic BPF opcodes.
_LD_B_ABS, _LD_W_ABS, _LDX_MSH, _LD_H_IND = 0x30, 0x20, 0xB1, 0x48
_JEQ, _JGE, _JGT, _RET = 0x15, 0x35, 0x25, 0x06


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _filter_program(low: int, high: int, tcp_port: int) -> list[tuple[int, int, int, int]]:
    """Accept incoming UDP whose source or destination port is in ``[low, high)`` and TCP from or to
    ``tcp_port``; drop the rest. Offsets are from the IP header (a cooked ``SOCK_DGRAM`` packet
    socket has no link header); classic BPF jumps forward only."""
    accept, drop = 16, 17
    # (opcode, k, index to go to if true, index if false); None = the next instruction.
    table: list[tuple[int, int, int | None, int | None]] = [
        (_LD_W_ABS, SKF_AD_PKTTYPE & 0xFFFFFFFF, None, None),  # 0: the packet's type
        (_JEQ, PACKET_OUTGOING, drop, None),                   # 1: the outgoing copy
        (_LD_B_ABS, 9, None, None),                            # 2: IP protocol
        (_LDX_MSH, 0, None, None),                             # 3: X = IP header length
        (_JEQ, socket.IPPROTO_UDP, None, 11),                  # 4: UDP here, else TCP at 11
        (_LD_H_IND, 0, None, None),                            # 5: source port
        (_JGE, low, None, 8),                                  # 6
        (_JGT, high - 1, 8, accept),                           # 7: source port in range
        (_LD_H_IND, 2, None, None),                            # 8: destination port
        (_JGE, low, None, drop),                               # 9
        (_JGT, high - 1, drop, accept),                        # 10: destination port in range
        (_JEQ, socket.IPPROTO_TCP, None, drop),                # 11: TCP
        (_LD_H_IND, 0, None, None),                            # 12: source port
        (_JEQ, tcp_port, accept, None),                        # 13
        (_LD_H_IND, 2, None, None),                            # 14: destination port
        (_JEQ, tcp_port, accept, drop),                        # 15
        (_RET, 0xFFFF, None, None),                            # 16: accept
        (_RET, 0, None, None),                                 # 17: drop
    ]
    program = []
    for index, (code, k, if_true, if_false) in enumerate(table):
        jt = 0 if if_true is None else if_true - index - 1
        jf = 0 if if_false is None else if_false - index - 1
        program.append((code, jt, jf, k))
    return program


@dataclass(frozen=True)
class TcpSegment:
    at: float
    from_asterisk: bool
    """Sent by Asterisk (the client) to the server; else the server's."""
    payload: bytes


@dataclass
class AgiConnection:
    """One FastAGI session on the wire, as Asterisk and the server exchanged it."""

    client_port: int
    connect: float
    """Asterisk's SYN: it has started the AGI and connects to the server."""
    segments: list[TcpSegment] = field(default_factory=list)
    script: str = ""
    uniqueid: str = ""
    closed: bool = False

    def environment_end(self) -> float | None:
        """When the blank line that ends Asterisk's environment went out."""
        text = b""
        for segment in self.segments:
            if segment.from_asterisk:
                text += segment.payload
                if b"\n\n" in text:
                    return segment.at
        return None

    def exchanges(self) -> list[tuple[float, str, float | None]]:
        """(the server sent a command, its first line, Asterisk's reply was complete) per command,
        after the environment. A reply is complete at the last segment Asterisk sent before the next
        command (``100 Trying`` comes before some results)."""
        result: list[tuple[float, str, float | None]] = []
        env_end = self.environment_end()
        if env_end is None:
            return result
        for segment in self.segments:
            if segment.at < env_end:
                continue
            if segment.from_asterisk:
                if result:
                    sent, line, _ = result[-1]
                    result[-1] = (sent, line, segment.at)
            elif segment.payload:
                result.append((segment.at, segment.payload.split(b"\n", 1)[0].decode(errors="replace"), None))
        return result


@dataclass(frozen=True)
class RtpPacket:
    at: float
    """Kernel receive time, epoch seconds."""
    src_port: int
    dst_port: int
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


class CaptureUnavailable(RuntimeError):
    """No packet socket (not root, no CAP_NET_RAW, or no loopback interface)."""


def check_available() -> None:
    """Raises :class:`CaptureUnavailable` now rather than after minutes of other measurements."""
    RtpCapture().close()


class RtpCapture:
    """Context manager: captures from start to stop; ``packets_to``/``packets_from`` read what a
    watched port received or sent."""

    def __init__(self, ports: tuple[int, int] = PEER_MEDIA_PORTS, interface: str = "lo", *, agi_port: int = 0,
                 agi_script: str = "flag") -> None:
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        except (PermissionError, OSError) as error:
            raise CaptureUnavailable(f"cannot open a packet socket ({error}); the protection bench needs "
                                     "root or CAP_NET_RAW to see RTP on the loopback interface") from error
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self._attach_filter(ports[0], ports[1], agi_port)
            self._sock.bind((interface, ETH_P_IP))
        except OSError as error:
            self._sock.close()
            raise CaptureUnavailable(f"cannot capture on {interface}: {error}") from error
        self._sock.settimeout(0.2)
        self._watched: set[int] = set()
        self._to: dict[int, list[RtpPacket]] = defaultdict(list)
        self._from: dict[int, list[RtpPacket]] = defaultdict(list)
        self._agi_port = agi_port
        self._agi_script = agi_script.encode()
        self._connections: dict[int, AgiConnection] = {}
        self._sessions: list[AgiConnection] = []
        self._buffer = bytearray(65536)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_forever, name="rtp-capture", daemon=True)
        self.packets_seen = 0
        self.error = ""

    def _attach_filter(self, low: int, high: int, agi_port: int) -> None:
        program = _filter_program(low, high, agi_port)
        array = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
        fprog = _SockFprog(len(program), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(memoryview(fprog)))
        self._keep_filter = array  # the kernel copied it; kept anyway for the socket's life

    def __enter__(self) -> RtpCapture:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._sock.close()

    def watch(self, *ports: int) -> None:
        with self._lock:
            self._watched.update(ports)

    def forget(self, *ports: int) -> None:
        """Stop keeping packets of these ports and drop those kept."""
        with self._lock:
            for port in ports:
                self._watched.discard(port)
                self._to.pop(port, None)
                self._from.pop(port, None)

    def packets_to(self, port: int, since: float = 0.0, until: float = float("inf")) -> list[RtpPacket]:
        with self._lock:
            return [p for p in self._to.get(port, ()) if since <= p.at < until]

    def packets_from(self, port: int, since: float = 0.0, until: float = float("inf")) -> list[RtpPacket]:
        with self._lock:
            return [p for p in self._from.get(port, ()) if since <= p.at < until]

    def agi_session(self, uniqueid: str, since: float) -> AgiConnection | None:
        """The first ``flag`` session of this channel that connected after ``since``."""
        with self._lock:
            return next((c for c in self._sessions if c.uniqueid == uniqueid and c.connect >= since), None)

    def forget_sessions_before(self, moment: float) -> None:
        with self._lock:
            self._sessions = [c for c in self._sessions if c.connect >= moment]

    def _read_forever(self) -> None:
        ancillary = socket.CMSG_SPACE(16)
        view = memoryview(self._buffer)
        while not self._stop.is_set():
            try:
                size, ancdata, _flags, _address = self._sock.recvmsg_into([view], ancillary)
            except TimeoutError:
                continue
            except OSError as error:
                if not self._stop.is_set():
                    self.error = str(error)
                return
            at = _kernel_time(ancdata)
            if size >= 20 and self._buffer[9] == socket.IPPROTO_TCP:
                self._tcp(bytes(view[:size]), at)
                continue
            packet = _parse(bytes(view[:min(size, 2048)]), at)
            if packet is None:
                continue
            self.packets_seen += 1
            with self._lock:
                if packet.dst_port in self._watched:
                    self._to[packet.dst_port].append(packet)
                if packet.src_port in self._watched:
                    self._from[packet.src_port].append(packet)


    def _tcp(self, data: bytes, at: float) -> None:
        header = (data[0] & 0x0F) * 4
        total = min(len(data), struct.unpack("!H", data[2:4])[0])
        if total < header + 20:
            return
        src_port, dst_port = struct.unpack("!HH", data[header:header + 4])
        offset = (data[header + 12] >> 4) * 4
        flags = data[header + 13]
        payload = data[header + offset:total]
        from_asterisk = dst_port == self._agi_port
        client = src_port if from_asterisk else dst_port
        with self._lock:
            if from_asterisk and flags & 0x02 and not flags & 0x10:  # SYN: a new session
                self._connections[client] = AgiConnection(client, at)
                return
            connection = self._connections.get(client)
            if connection is None:
                return
            if payload:
                connection.segments.append(TcpSegment(at, from_asterisk, payload))
                if from_asterisk and not connection.script:
                    self._identify(connection)
            if flags & 0x05:  # FIN or RST
                connection.closed = True
                self._connections.pop(client, None)

    def _identify(self, connection: AgiConnection) -> None:
        """Reads the environment: a session of another script is dropped at once."""
        text = b"".join(s.payload for s in connection.segments if s.from_asterisk)
        if b"\n\n" not in text and len(text) < 8192:
            return
        fields = dict(line.split(b": ", 1) for line in text.split(b"\n") if b": " in line)
        script = fields.get(b"agi_network_script", b"").split(b"?", 1)[0]
        connection.script = script.decode(errors="replace") or "?"
        connection.uniqueid = fields.get(b"agi_uniqueid", b"").decode(errors="replace")
        if script == self._agi_script:
            self._sessions.append(connection)
        else:
            self._connections.pop(connection.client_port, None)


def _kernel_time(ancdata: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return float(seconds) + float(nanoseconds) / 1e9
    return time.time()


def _parse(data: bytes, at: float) -> RtpPacket | None:
    """An RTP packet from an IPv4/UDP datagram, or None."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    header = (data[0] & 0x0F) * 4
    udp = data[header:header + 8]
    if len(udp) < 8:
        return None
    src_port, dst_port = struct.unpack("!HH", udp[:4])
    rtp = data[header + 8:]
    if len(rtp) < 12 or rtp[0] >> 6 != 2:
        return None
    count = rtp[0] & 0x0F
    start = 12 + 4 * count
    if rtp[0] & 0x10 and len(rtp) >= start + 4:  # header extension
        start += 4 + 4 * struct.unpack("!H", rtp[start + 2:start + 4])[0]
    sequence, timestamp, ssrc = struct.unpack("!HII", rtp[2:12])
    return RtpPacket(at, src_port, dst_port, rtp[1] & 0x7F, bool(rtp[1] & 0x80), sequence, timestamp, ssrc,
                     bytes(rtp[start:]))


@dataclass(frozen=True)
class DtmfEvent:
    """One RFC 4733 telephone event as sent: its first packet (key down) and first end packet."""

    digit: str
    began: float
    ended: float | None
    duration_ms: float | None


_EVENT_DIGITS = "0123456789*#ABCD"


@dataclass
class _Event:
    digit: str
    began: float
    ended: float | None = None
    duration_ms: float | None = None


def telephone_events(packets: list[RtpPacket], payload_type: int) -> list[DtmfEvent]:
    """The RFC 4733 events in ``packets`` (one sender), in order; end packets are sent three times,
    the first one counts."""
    events: dict[int, _Event] = {}
    for packet in packets:
        if packet.payload_type != payload_type or len(packet.payload) < 4:
            continue
        code, flags, duration = struct.unpack("!BBH", packet.payload[:4])
        event = events.get(packet.timestamp)  # one RTP timestamp per event
        if event is None:
            event = events[packet.timestamp] = _Event(_EVENT_DIGITS[code] if code < 16 else "?", packet.at)
        if flags & 0x80 and event.ended is None:
            event.ended, event.duration_ms = packet.at, duration / 8.0  # 8 kHz clock for G.711
    return [DtmfEvent(e.digit, e.began, e.ended, e.duration_ms) for e in events.values()]
