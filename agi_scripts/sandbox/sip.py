"""Scripted SIP callers and agents (pjsua2) for tests and demos against a sandbox Asterisk.

One :class:`SipPhoneSystem` owns the process's only pjsua2 Endpoint (one UDP transport on
127.0.0.1, a null sound device) and drives every peer from the main thread: nothing happens between
calls to :meth:`SipPhoneSystem.pump` / :meth:`SipPhoneSystem.wait_until`, and every wait has a
timeout. Peers are :class:`SipAgent` (registers, auto-answers after a ring delay) and
:class:`SipCaller` (places calls with any caller ID). Both record what they hear to a WAV file per
call, can play a WAV file into the call and send RFC 4733 DTMF.

    with SipPhoneSystem("127.0.0.1", sandbox.sip_port, record_dir=tmp) as phones:
        agent = phones.agent("agent1")
        caller = phones.caller("caller1", caller_id_name="Alice", caller_id_number="0470000000")
        phones.wait_until(lambda: agent.registered, 5, "agent registered")
        caller.call("100")
        phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 10, "caller connected")

Asterisk side: :func:`pjsip_endpoints_conf` writes matching endpoint/auth/aor sections.
"""

from __future__ import annotations

import atexit
import enum
import hashlib
import logging
import tempfile
import time
import wave
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pjsua2 as pj

LOG = logging.getLogger(__name__)

DEFAULT_TRANSPORT = "transport-udp"
EVENT_SLICE_MS = 10
SHUTDOWN_TIMEOUT = 5.0


class SipTimeout(AssertionError):
    """A :meth:`SipPhoneSystem.wait_until` condition did not come true in time."""


class SipPeerError(RuntimeError):
    """A peer was asked to do something its current state does not allow."""


class PeerState(enum.Enum):
    IDLE = "idle"
    CALLING = "calling"  # INVITE sent, no provisional answer with ringing yet
    RINGING = "ringing"  # caller: 180/183 received; agent: incoming call not answered yet
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


def default_password(username: str) -> str:
    """Password used on both sides when none is given: stable, distinct per peer, loopback-only."""
    return "rl-" + hashlib.sha256(f"respectline-sandbox:{username}".encode()).hexdigest()[:20]


def pjsip_endpoints_conf(agents: Iterable[str], callers: Iterable[str], context: str, *,
                         transport: str = DEFAULT_TRANSPORT,
                         passwords: Mapping[str, str] | None = None,
                         agent_names: Mapping[str, str] | None = None) -> str:
    """pjsip.conf endpoint/auth/aor sections for the sandbox's agents and callers.

    Endpoints are identified by the digest username first (``auth_username``), so a caller may put
    anything in its From header (hostile caller IDs included) and still be recognised.
    ``agent_names`` sets an agent endpoint's caller ID name, as an admin does so that the agents'
    compliments line knows who is calling.
    """
    sections: list[str] = []
    for role, names in (("agent", agents), ("caller", callers)):
        for name in names:
            password = (passwords or {}).get(name) or default_password(name)
            caller_id = (agent_names or {}).get(name) if role == "agent" else None
            sections.append(_endpoint_sections(name, password, context, transport, role, caller_id))
    return "\n".join(sections)


def _endpoint_sections(name: str, password: str, context: str, transport: str, role: str,
                       caller_id_name: str | None = None) -> str:
    caller_id = f"callerid={caller_id_name} <{name}>\n" if caller_id_name else ""
    return f"""; {role} {name} (scripted pjsua2 peer)
[{name}]
type=endpoint
transport={transport}
context={context}
{caller_id}disallow=all
allow=ulaw,alaw,slin
dtmf_mode=rfc4733
direct_media=no
rtp_symmetric=yes
identify_by=auth_username,username
auth={name}
aors={name}

[{name}]
type=auth
auth_type=userpass
username={name}
password={password}

[{name}]
type=aor
max_contacts=1
remove_existing=yes
"""


def _sip_display_name(name: str) -> str:
    """RFC 3261 quoted-string: backslash-escape quote and backslash; drop CR/LF, which SIP forbids."""
    cleaned = name.replace("\r", " ").replace("\n", " ")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Characters allowed unescaped in a SIP URI user part (RFC 3261 "user").
_SIP_USER_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,;?/")


def _sip_user(user: str) -> str:
    return "".join(ch if ch in _SIP_USER_SAFE else "".join(f"%{b:02X}" for b in ch.encode()) for ch in user)


@dataclass
class CallRecord:
    """What one call of a peer looked like, kept after the call is gone."""

    number: int
    direction: str  # "in" or "out"
    remote_uri: str = ""
    recording: Path | None = None
    ringing_at: float | None = None
    connected_at: float | None = None
    disconnected_at: float | None = None
    status_code: int = 0
    reason: str = ""
    hung_up_by_us: bool = False
    digits_received: str = ""
    played: list[Path] = field(default_factory=list)


class _PeerCall(pj.Call):  # type: ignore[misc]
    """pjsua2 call whose callbacks are forwarded to its peer (never raising into C++)."""

    def __init__(self, peer: _SipPeer, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.peer = peer

    def onCallState(self, prm: Any) -> None:  # noqa: N802 (pjsua2 callback name)
        self.peer.system.guard(lambda: self.peer.on_call_state(self))

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        self.peer.system.guard(lambda: self.peer.on_media_state(self))

    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        digit = str(prm.digit)
        self.peer.system.guard(lambda: self.peer.on_dtmf(digit))


class _PeerAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, peer: _SipPeer) -> None:
        super().__init__()
        self.peer = peer

    def onRegState(self, prm: Any) -> None:  # noqa: N802
        code = int(prm.code)
        self.peer.system.guard(lambda: self.peer.on_reg_state(code))

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        call_id = int(prm.callId)
        self.peer.system.guard(lambda: self.peer.on_incoming_call(call_id))


class _SipPeer:
    """Shared behaviour of agents and callers: one account, at most one call at a time."""

    def __init__(self, system: SipPhoneSystem, username: str, password: str, *,
                 display_name: str | None, from_user: str | None, register: bool) -> None:
        self.system = system
        self.username = username
        self.password = password
        self.registered = False
        self.registration_code = 0
        self.calls: list[CallRecord] = []
        self.invites_received = 0
        """Every INVITE that reached this phone, the ones refused as busy too."""
        self._call: _PeerCall | None = None
        self._record: CallRecord | None = None
        self._recorder: pj.AudioMediaRecorder | None = None
        self._players: list[pj.AudioMediaPlayer] = []
        self._play_until = 0.0
        self._audio: pj.AudioMedia | None = None
        self._register = register
        self._account = _PeerAccount(self)
        self._account.create(self._account_config(display_name, from_user))

    # --- configuration -------------------------------------------------------------------------

    def _account_config(self, display_name: str | None, from_user: str | None) -> pj.AccountConfig:
        server = self.system.server_uri
        config = pj.AccountConfig()
        config.idUri = self._id_uri(display_name, from_user)
        if self._register:
            config.regConfig.registrarUri = server
            config.regConfig.timeoutSec = 300
            config.regConfig.retryIntervalSec = 2
        else:
            config.regConfig.registrarUri = ""
        config.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", self.username, 0, self.password))
        config.natConfig.sipOutboundUse = 0
        config.natConfig.contactRewriteUse = 0
        config.natConfig.viaRewriteUse = 0
        config.natConfig.sdpNatRewriteUse = 0
        config.natConfig.iceEnabled = False
        media = config.mediaConfig.transportConfig
        media.boundAddress = self.system.local_host
        media.publicAddress = self.system.local_host
        media.port = 30000
        media.portRange = 10000
        media.randomizePort = True
        return config

    def _id_uri(self, display_name: str | None, from_user: str | None) -> str:
        user = _sip_user(from_user if from_user is not None else self.username)
        uri = f"<sip:{user}@{self.system.server_host}>"
        return f"{_sip_display_name(display_name)} {uri}" if display_name is not None else uri

    # --- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> PeerState:
        if self._call is not None and self._record is not None:
            if self._record.connected_at is not None:
                return PeerState.CONNECTED
            return PeerState.RINGING if self._record.ringing_at is not None else PeerState.CALLING
        return PeerState.DISCONNECTED if self.calls else PeerState.IDLE

    @property
    def in_call(self) -> bool:
        return self._call is not None

    @property
    def last_call(self) -> CallRecord | None:
        return self.calls[-1] if self.calls else None

    @property
    def last_recording(self) -> Path | None:
        """WAV of what the peer heard on its last call; complete once that call is disconnected."""
        return self.calls[-1].recording if self.calls else None

    @property
    def is_playing(self) -> bool:
        return self._call is not None and time.monotonic() < self._play_until

    # --- actions -------------------------------------------------------------------------------

    def press(self, digits: str, *, duration_ms: int = 120) -> None:
        """Send DTMF digits as RFC 4733 telephone events."""
        call = self._connected_call("press DTMF")
        param = pj.CallSendDtmfParam()
        param.digits = digits
        param.method = pj.PJSUA_DTMF_METHOD_RFC2833
        param.duration = duration_ms
        call.sendDtmf(param)

    def play(self, wav: Path) -> float:
        """Play a WAV file into the call (the far end hears it); returns its length in seconds."""
        self._connected_call("play audio")
        if self._audio is None:
            raise SipPeerError(f"{self.username}: the call has no active audio yet")
        playable, seconds = self.system.playable_wav(wav)
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(playable), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self._audio)
        self._players.append(player)
        self._play_until = max(self._play_until, time.monotonic()) + seconds
        if self._record is not None:
            self._record.played.append(wav)
        return seconds

    def hangup(self) -> None:
        """Hang up the current call (no-op when there is none)."""
        if self._call is None:
            return
        if self._record is not None:
            self._record.hung_up_by_us = True
        param = pj.CallOpParam(True)
        try:
            self._call.hangup(param)
        except pj.Error as error:  # already disconnecting: the state callback will follow
            LOG.debug("%s: hangup: %s", self.username, error.info())

    def _connected_call(self, action: str) -> _PeerCall:
        if self._call is None or self.state is not PeerState.CONNECTED:
            raise SipPeerError(f"{self.username}: cannot {action} while {self.state.value}")
        return self._call

    def _start_record(self, direction: str) -> CallRecord:
        record = CallRecord(number=len(self.calls) + 1, direction=direction)
        self.calls.append(record)
        self._record = record
        return record

    # --- pjsua2 callbacks (main thread, inside libHandleEvents) --------------------------------

    def on_reg_state(self, code: int) -> None:
        self.registration_code = code
        self.registered = bool(self._account.getInfo().regIsActive)

    def on_incoming_call(self, call_id: int) -> None:
        call = _PeerCall(self, self._account, call_id)
        self.invites_received += 1
        if self._call is not None:  # one call at a time: a busy peer refuses the second
            param = pj.CallOpParam()
            param.statusCode = 486
            call.hangup(param)
            self.system.retire(call)
            return
        self._call = call
        record = self._start_record("in")
        record.remote_uri = str(call.getInfo().remoteUri)
        record.ringing_at = time.monotonic()
        param = pj.CallOpParam()
        param.statusCode = 180
        call.answer(param)
        self.on_offered()

    def on_offered(self) -> None:
        """Hook for agents: an incoming call is ringing."""

    def on_call_state(self, call: _PeerCall) -> None:
        if call is not self._call or self._record is None:
            return
        info = call.getInfo()
        now = time.monotonic()
        if info.state in (pj.PJSIP_INV_STATE_EARLY,) and self._record.ringing_at is None:
            self._record.ringing_at = now
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and self._record.connected_at is None:
            self._record.connected_at = now
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._record.disconnected_at = now
            self._record.status_code = int(info.lastStatusCode)
            self._record.reason = str(info.lastReason)
            self._release_call()

    def on_media_state(self, call: _PeerCall) -> None:
        if call is not self._call:
            return
        info = call.getInfo()  # keep it: iterating a temporary's vector reads freed memory
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self._audio = call.getAudioMedia(index)
                self._start_recorder()
                return

    def on_dtmf(self, digit: str) -> None:
        if self._record is not None:
            self._record.digits_received += digit

    # --- media and teardown --------------------------------------------------------------------

    def _start_recorder(self) -> None:
        if self._recorder is not None or self._record is None or self._audio is None:
            return
        directory = self.system.record_dir
        if directory is None:
            return
        path = directory / f"{_sip_user(self.username)}-{self._record.number}.wav"
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(str(path))
        self._audio.startTransmit(recorder)
        self._recorder = recorder
        self._record.recording = path

    def _release_call(self) -> None:
        """Drop the call and finish its WAV files. The Call object itself is deleted later, in the
        pump loop, never inside its own callback."""
        # Deleting the recorder (in the pump loop) writes the WAV header's final sizes.
        self.system.retire(self._call, self._recorder, *self._players)
        self._recorder = None
        self._players = []
        self._audio = None
        self._play_until = 0.0
        self._call = None
        self._record = None

    def tick(self, now: float) -> None:
        """Called from the pump loop after each slice of events."""

    def shutdown(self) -> None:
        self.hangup()

    def unregister(self) -> None:
        """Remove the registration (REGISTER with Expires: 0); :attr:`registered` turns false."""
        if not self.registered:
            return
        try:
            self._account.setRegistration(False)
        except pj.Error as error:
            LOG.debug("%s: unregister: %s", self.username, error.info())
            self.registered = False

    def close_account(self) -> None:
        try:
            self._account.shutdown()
        except pj.Error as error:
            LOG.debug("%s: account shutdown: %s", self.username, error.info())


class SipAgent(_SipPeer):
    """An agent's phone: registers, rings, answers after ``ring_delay`` seconds unless told not to."""

    def __init__(self, system: SipPhoneSystem, username: str, password: str, *, ring_delay: float,
                 auto_answer: bool) -> None:
        super().__init__(system, username, password, display_name=None, from_user=None, register=True)
        self.ring_delay = ring_delay
        self.auto_answer = auto_answer
        self.calls_offered = 0
        self.calls_answered = 0
        self._answer_at: float | None = None

    def on_offered(self) -> None:
        self.calls_offered += 1
        if self.auto_answer:
            self._answer_at = time.monotonic() + self.ring_delay

    def answer(self) -> None:
        """Answer the ringing call now."""
        if self._call is None or self.state is not PeerState.RINGING:
            raise SipPeerError(f"{self.username}: nothing to answer while {self.state.value}")
        self._answer_at = None
        param = pj.CallOpParam()
        param.statusCode = 200
        self._call.answer(param)
        self.calls_answered += 1

    def tick(self, now: float) -> None:
        if self._answer_at is not None and now >= self._answer_at:
            self._answer_at = None
            if self.state is PeerState.RINGING:
                self.answer()

    def _release_call(self) -> None:
        self._answer_at = None
        super()._release_call()


class SipCaller(_SipPeer):
    """A customer's phone: places calls to extensions of the sandbox with the caller ID it is given."""

    def __init__(self, system: SipPhoneSystem, username: str, password: str, *,
                 caller_id_name: str | None, caller_id_number: str | None) -> None:
        super().__init__(system, username, password, display_name=caller_id_name,
                         from_user=caller_id_number, register=False)

    def call(self, number: str) -> None:
        """Dial ``number`` at the sandbox; follow progress through :attr:`state`."""
        if self._call is not None:
            raise SipPeerError(f"{self.username}: already in a call ({self.state.value})")
        call = _PeerCall(self, self._account)
        record = self._start_record("out")
        record.remote_uri = f"sip:{_sip_user(number)}@{self.system.server_host}:{self.system.server_port}"
        self._call = call
        param = pj.CallOpParam(True)
        try:
            call.makeCall(record.remote_uri, param)
        except pj.Error:
            self._call = None
            self._record = None
            raise

    @property
    def disconnect_reason(self) -> str:
        record = self.last_call
        return f"{record.status_code} {record.reason}" if record and record.disconnected_at else ""


class SipPhoneSystem:
    """The process's pjsua2 endpoint and every scripted peer on it.

    Use as a context manager; :meth:`shutdown` hangs up every call, unregisters, deletes every
    pjsua2 object and destroys the library, each step bounded in time.
    """

    def __init__(self, server_host: str, server_port: int, *, record_dir: Path | None = None,
                 log_path: Path | None = None, log_level: int = 4, local_host: str = "127.0.0.1") -> None:
        self.server_host = server_host
        self.server_port = server_port
        self.server_uri = f"sip:{server_host}:{server_port}"
        self.record_dir = record_dir
        self.local_host = local_host
        self.local_port = 0
        self.peers: list[_SipPeer] = []
        self._log_path = log_path
        self._log_level = log_level
        self._errors: list[BaseException] = []
        self._retired: list[object] = []
        self._endpoint: pj.Endpoint | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="respectline-sip-")
        self._converted: dict[Path, tuple[Path, float]] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SipPhoneSystem:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def start(self) -> None:
        if self._endpoint is not None:
            raise SipPeerError("SipPhoneSystem already started")
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        endpoint = pj.Endpoint()
        endpoint.libCreate()
        try:
            endpoint.libInit(self._endpoint_config())
            transport = pj.TransportConfig()
            transport.port = 0
            transport.boundAddress = self.local_host
            transport_id = endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
            endpoint.libStart()
            endpoint.audDevManager().setNullDev()
            self._telephony_codecs_only(endpoint)
            local_name = str(endpoint.transportGetInfo(transport_id).localName)
        except pj.Error as error:
            endpoint.libDestroy()  # a half-started library would break the next Endpoint
            del endpoint
            raise SipPeerError(f"pjsua2 failed to start: {error.info()}") from error
        self._endpoint = endpoint
        self.local_port = int(local_name.rsplit(":", 1)[1])
        # A script that forgets shutdown() would otherwise abort in pjsua's asserts at exit.
        atexit.register(self.shutdown)

    def _endpoint_config(self) -> pj.EpConfig:
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.userAgent = "Respectline sandbox peer"
        config.logConfig.consoleLevel = 0
        if self._log_path is not None:
            config.logConfig.filename = str(self._log_path)
            config.logConfig.level = self._log_level
            config.logConfig.msgLogging = True
        else:
            config.logConfig.level = 0
            config.logConfig.msgLogging = False
        config.medConfig.noVad = True  # silence suppression would cut what a peer plays
        config.medConfig.ecTailLen = 0  # no echo canceller: recordings are what was received
        # pjsua closes an idle sound device (the null one too) after a second, and with it stops the media
        # clock and the RTP a phone sends, telephone events included: a code pressed later was never sent.
        config.medConfig.sndAutoCloseTime = -1
        return config

    @staticmethod
    def _telephony_codecs_only(endpoint: pj.Endpoint) -> None:
        preferred = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}
        for codec in endpoint.codecEnum2():
            endpoint.codecSetPriority(codec.codecId, preferred.get(str(codec.codecId), 0))

    def shutdown(self) -> None:
        """Hang up, unregister, delete every pjsua2 object, destroy the library. Safe to repeat."""
        endpoint = self._endpoint
        if endpoint is None:
            return
        atexit.unregister(self.shutdown)
        try:
            for peer in self.peers:
                peer.shutdown()
            self._pump_quietly(lambda: not any(peer.in_call for peer in self.peers), SHUTDOWN_TIMEOUT)
            for peer in self.peers:
                peer.unregister()
            self._pump_quietly(lambda: not any(peer.registered for peer in self.peers), 2.0)
            for peer in self.peers:
                peer.close_account()
        finally:
            self._retired.clear()
            for peer in self.peers:
                peer._call = None  # anything still alive after the timeout must go before libDestroy
                peer._recorder = None
                peer._players.clear()
                peer._audio = None
            self.peers.clear()
            self._converted.clear()
            endpoint.libDestroy()
            self._endpoint = None
            del endpoint
            self._scratch.cleanup()

    def _pump_quietly(self, done: Callable[[], bool], timeout: float) -> None:
        try:
            self.wait_until(done, timeout, "shutdown step")
        except (SipTimeout, pj.Error) as error:
            LOG.warning("SIP shutdown step did not finish: %s", error)

    # --- peers ---------------------------------------------------------------------------------

    def agent(self, username: str, password: str | None = None, *, ring_delay: float = 0.0,
              auto_answer: bool = True) -> SipAgent:
        self._require_started()
        peer = SipAgent(self, username, password or default_password(username), ring_delay=ring_delay,
                        auto_answer=auto_answer)
        self.peers.append(peer)
        return peer

    def caller(self, username: str, password: str | None = None, *, caller_id_name: str | None = None,
               caller_id_number: str | None = None) -> SipCaller:
        self._require_started()
        peer = SipCaller(self, username, password or default_password(username),
                         caller_id_name=caller_id_name, caller_id_number=caller_id_number)
        self.peers.append(peer)
        return peer

    def _require_started(self) -> None:
        if self._endpoint is None:
            raise SipPeerError("SipPhoneSystem is not started")

    # --- event loop ----------------------------------------------------------------------------

    def pump(self, seconds: float) -> None:
        """Handle SIP/media events and peers' timers for ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            self._slice()
            if time.monotonic() >= deadline:
                return

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str = "condition", *,
                   interval: float = 0.0) -> None:
        """Pump events until ``predicate()`` is true; :class:`SipTimeout` after ``timeout`` seconds.

        ``interval`` spaces out costly predicates (one that runs ``asterisk -rx``, say) while events
        keep being handled in between.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            next_check = min(deadline, time.monotonic() + interval)
            while True:
                if time.monotonic() >= deadline:
                    raise SipTimeout(f"timed out after {timeout:.1f} s waiting for {what}")
                self._slice()
                if time.monotonic() >= next_check:
                    break

    def _slice(self) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            raise SipPeerError("SipPhoneSystem is not started")
        endpoint.libHandleEvents(EVENT_SLICE_MS)
        now = time.monotonic()
        for peer in self.peers:
            self.guard(lambda peer=peer: peer.tick(now))  # type: ignore[misc]
        self._retired.clear()  # safe now: no callback of these calls is running
        if self._errors:
            error = self._errors.pop(0)
            raise SipPeerError(f"error in a pjsua2 callback: {error!r}") from error

    def guard(self, action: Callable[[], None]) -> None:
        """Run a callback body; an exception is kept and raised from the pump loop instead of
        unwinding through pjsua2's C++ (which would abort the process)."""
        try:
            action()
        except Exception as error:  # noqa: BLE001 - re-raised from _slice
            LOG.exception("pjsua2 callback failed")
            self._errors.append(error)

    def retire(self, *objects: object) -> None:
        """Keep finished pjsua2 objects alive until the current callback has returned; the pump
        loop deletes them."""
        self._retired.extend(item for item in objects if item is not None)

    # --- audio files ---------------------------------------------------------------------------

    def playable_wav(self, wav: Path) -> tuple[Path, float]:
        """pjsua2 plays 16-bit PCM WAV only; convert anything else once (via sandbox.audio)."""
        cached = self._converted.get(wav)
        if cached is not None:
            return cached
        try:
            with wave.open(str(wav), "rb") as reader:
                usable = reader.getsampwidth() == 2 and reader.getcomptype() == "NONE"
                seconds = reader.getnframes() / reader.getframerate()
        except (wave.Error, EOFError):
            usable = False
        if usable:
            result = (wav, seconds)
        else:
            result = self._convert_to_pcm16(wav)
        self._converted[wav] = result
        return result

    def _convert_to_pcm16(self, wav: Path) -> tuple[Path, float]:
        from agi_scripts.sandbox.audio import load_audio  # numpy only needed when converting

        samples, rate = load_audio(wav)
        target = Path(self._scratch.name) / f"play-{len(self._converted)}.wav"
        with wave.open(str(target), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes((samples.clip(-1, 1) * 32767).astype("<i2").tobytes())
        return target, len(samples) / rate
