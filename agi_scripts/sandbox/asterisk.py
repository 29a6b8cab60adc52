"""A private Asterisk for tests, the demo and ``make run``.

:class:`AsteriskSandbox` writes a complete configuration into a temporary folder (every Asterisk
directory points inside it), starts ``asterisk -f`` as a child process in its own process group,
and talks to it through ``asterisk -rx`` and AMI. It never touches a system Asterisk's files.

The caller supplies Respectline's own configuration (``extensions.conf``, ``queues.conf``,
``pjsip.conf`` endpoints...) as texts. The sandbox supplies the baseline: ``asterisk.conf``,
``modules.conf``, ``logger.conf``, ``manager.conf`` (AMI on 127.0.0.1, a user and secret made per
sandbox), ``rtp.conf`` and a ``pjsip.conf`` UDP transport on 127.0.0.1. For those baseline files the
caller's text is *appended* to the sandbox's (so do not repeat their ``[general]`` sections; the SIP
transport is ``[transport-udp]``). Other files are written as given; ``queues.conf``,
``extensions.conf``, ``musiconhold.conf`` and ``features.conf`` get a small default only when the
caller gives none.

Template variables: in the caller's texts, ``${name}`` is replaced for each name of
:attr:`AsteriskSandbox.template_values` (``sip_port``, ``ami_port``, ``ami_username``,
``ami_secret``, ``base_dir``, ``etc_dir``, ``sounds_dir``, ``log_dir``, ``spool_dir``,
``rtp_start``, ``rtp_end``). Every other ``${...}`` (``${EXTEN}``, ``${CALLERID(num)}``...) and
every ``$`` is left as it is for Asterisk.

Example::

    with AsteriskSandbox({"extensions.conf": "[demo]\\nexten => s,1,Playback(beep)\\n"}) as ast:
        print(ast.rx("dialplan show demo"), ast.sip_port)
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from agi_scripts.ami.client import AmiClient, AmiError

MIN_ASTERISK_MAJOR = 20
SYSTEM_SOUNDS_ROOT = Path("/usr/share/asterisk")
INSTALL_HINT = "run `make asterisk` (scripts/install-asterisk) to build or install Asterisk 20+"
SIP_TRANSPORT = "transport-udp"

# Modules that exist in a full (distribution) Asterisk but are noisy, slow or listen on ports;
# harmless to name when absent (our own minimal build has none of them).
NOISY_MODULES = (
    "chan_iax2.so", "chan_dahdi.so", "chan_skinny.so", "chan_mgcp.so", "chan_unistim.so",
    "chan_motif.so", "chan_console.so", "chan_alsa.so", "chan_oss.so", "chan_mobile.so",
    "res_xmpp.so", "pbx_dundi.so", "pbx_lua.so", "pbx_ael.so", "res_ari.so", "res_http_websocket.so",
    "res_pjsip_transport_websocket.so", "res_phoneprov.so", "res_pjsip_phoneprov_provider.so",
    "res_hep.so", "res_hep_pjsip.so", "res_hep_rtcp.so", "res_snmp.so", "res_smdi.so",
    "res_calendar.so", "res_corosync.so", "res_odbc.so", "res_config_odbc.so",
    "res_config_pgsql.so", "res_config_ldap.so", "res_config_mysql.so", "cdr_pgsql.so",
    "cdr_odbc.so", "cdr_adaptive_odbc.so", "cdr_radius.so", "cdr_tds.so", "cdr_sqlite3_custom.so",
    "cel_odbc.so", "cel_pgsql.so", "cel_radius.so", "cel_tds.so", "cel_sqlite3_custom.so",
    "res_fax.so", "res_fax_spandsp.so", "res_stir_shaken.so", "res_pjsip_stir_shaken.so",
    "res_prometheus.so", "res_aeap.so", "res_speech_aeap.so",
    "res_pjsip_outbound_publish.so", "res_pjsip_publish_asterisk.so", "app_voicemail.so",
)

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VERSION = re.compile(r"Asterisk\s+(\d+)\.")
MAX_SOCKET_PATH = 100
"""Longest path of a Unix socket Asterisk creates (``sockaddr_un`` holds 108 bytes)."""


class AsteriskNotFound(RuntimeError):
    """No usable Asterisk binary; the message says how to get one."""


class AsteriskSandboxError(RuntimeError):
    """The sandboxed Asterisk failed to start, answer or stop."""


# ---------------------------------------------------------------- finding the binary


def cache_root() -> Path:
    """Where scripts/install-asterisk builds Asterisk (same rule as the script)."""
    explicit = os.environ.get("RESPECTLINE_CACHE")
    if explicit:
        return Path(explicit) / "asterisk"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "respectline" / "asterisk"


def asterisk_major_version(binary: Path) -> int | None:
    """The major version ``binary -V`` reports, or None if it does not run as an Asterisk."""
    try:
        out = subprocess.run(
            [str(binary), "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.match(out.strip())
    return int(match.group(1)) if match else None


def _cached_binaries() -> list[Path]:
    """Complete builds in the cache, newest Debian version first (stamp written last by the script)."""
    root = cache_root()
    if not root.is_dir():
        return []
    builds = [p.parent for p in root.glob("*/.respectline-build-complete")]
    builds.sort(key=lambda p: _version_key(p.name), reverse=True)
    return [b / "sbin" / "asterisk" for b in builds if (b / "sbin" / "asterisk").is_file()]


def _version_key(version: str) -> list[tuple[int, str]]:
    """A sort key close to `sort -V`: digit runs compare as numbers."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", version)]


def find_asterisk_binary() -> Path:
    """``$RESPECTLINE_ASTERISK``, else an ``asterisk`` 20+ on PATH, else the installer's cache."""
    explicit = os.environ.get("RESPECTLINE_ASTERISK")
    if explicit:
        path = Path(explicit)
        major = asterisk_major_version(path)
        if major is None:
            raise AsteriskNotFound(f"RESPECTLINE_ASTERISK={explicit} does not run as Asterisk; {INSTALL_HINT}")
        if major < MIN_ASTERISK_MAJOR:
            raise AsteriskNotFound(f"RESPECTLINE_ASTERISK={explicit} is Asterisk {major}; {INSTALL_HINT}")
        return path
    on_path = shutil.which("asterisk")
    if on_path:
        major = asterisk_major_version(Path(on_path))
        if major is not None and major >= MIN_ASTERISK_MAJOR:
            return Path(on_path)
    for cached in _cached_binaries():
        if asterisk_major_version(cached) is not None:
            return cached
    raise AsteriskNotFound(f"no Asterisk {MIN_ASTERISK_MAJOR}+ on PATH nor in {cache_root()}; {INSTALL_HINT}")


# ---------------------------------------------------------------- ports and templates

_reserved_ports: set[tuple[int, int]] = set()
_reserved_lock = threading.Lock()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 free right now and not handed out before by this process."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with _reserved_lock:
            if (kind, port) not in _reserved_ports:
                _reserved_ports.add((kind, port))
                return port
    raise AsteriskSandboxError("no free port found on 127.0.0.1")


def rtp_port_range() -> tuple[int, int]:
    """An even-aligned block of 1,000 RTP ports below Linux's ephemeral range, chosen at random so
    that sandboxes running at once rarely share one (Asterisk skips ports in use anyway)."""
    start = 10000 + 2 * secrets.randbelow(9000)
    return start, start + 998


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Replaces ``${name}`` for the names in ``values`` only; everything else stays for Asterisk."""
    if not values:
        return text
    names = "|".join(re.escape(name) for name in values)
    return re.sub(r"\$\{(" + names + r")\}", lambda m: values[m.group(1)], text)


# ---------------------------------------------------------------- the sandbox

# Strong references: a started sandbox that its owner dropped is still stopped at exit.
_live_sandboxes: set[AsteriskSandbox] = set()


def _stop_all_at_exit() -> None:
    for sandbox in list(_live_sandboxes):
        sandbox.stop()


atexit.register(_stop_all_at_exit)


class AsteriskSandbox:
    """A private Asterisk in a temporary folder. Context manager: starts on enter, stops on exit."""

    def __init__(
        self,
        config_files: Mapping[str, str] | None = None,
        *,
        binary: Path | None = None,
        base_dir: Path | None = None,
        keep_files: bool | None = None,
        system_sounds_root: Path = SYSTEM_SOUNDS_ROOT,
        verbose: int = 3,
        die_with_parent: bool = True,
    ) -> None:
        self.binary = binary or find_asterisk_binary()
        self._owns_base_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="rl-ast-")).resolve()
        self.keep_files = (
            keep_files if keep_files is not None else os.environ.get("RESPECTLINE_KEEP_SANDBOX") == "1"
        )
        self.etc_dir = self.base_dir / "etc"
        self.data_dir = self.base_dir / "data"
        self.sounds_dir = self.data_dir / "sounds"
        self.log_dir = self.base_dir / "log"
        self.run_dir = self.base_dir / "run"
        # A deep sandbox folder (a test's under pytest-xdist, an admin's) gets its sockets in a short one of
        # its own: Asterisk's control socket path must fit sockaddr_un.
        self._short_run_dir = len(str(self.run_dir / "asterisk.ctl")) > MAX_SOCKET_PATH
        if self._short_run_dir:
            self.run_dir = Path(tempfile.mkdtemp(prefix="rl-run-")).resolve()
        self.spool_dir = self.base_dir / "spool"
        self.log_path = self.log_dir / "full"
        self.console_log_path = self.log_dir / "console.log"
        self.config_path = self.etc_dir / "asterisk.conf"
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.ami_port = free_port(socket.SOCK_STREAM)
        self.ami_username = "respectline"
        self.ami_secret = secrets.token_hex(16)
        self.rtp_start, self.rtp_end = rtp_port_range()
        self.verbose = verbose
        self.die_with_parent = die_with_parent
        self._system_sounds_root = system_sounds_root
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._check_socket_path()
        self._write_tree(dict(config_files or {}))

    # ------------------------------------------------------------ public API

    @property
    def template_values(self) -> dict[str, str]:
        """The ``${name}`` values substituted into the caller's configuration texts."""
        return {
            "sip_port": str(self.sip_port),
            "ami_port": str(self.ami_port),
            "ami_username": self.ami_username,
            "ami_secret": self.ami_secret,
            "base_dir": str(self.base_dir),
            "etc_dir": str(self.etc_dir),
            "sounds_dir": str(self.sounds_dir),
            "log_dir": str(self.log_dir),
            "spool_dir": str(self.spool_dir),
            "rtp_start": str(self.rtp_start),
            "rtp_end": str(self.rtp_end),
        }

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> AsteriskSandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        """Starts Asterisk and returns once it is fully booted, AMI answers and SIP is bound."""
        if self._process is not None:
            raise AsteriskSandboxError("this sandbox was already started; make a new one")
        console = open(self.console_log_path, "ab")
        try:
            self._process = subprocess.Popen(
                self._start_command(),
                cwd=self.base_dir,  # core dumps (-g) land in the sandbox
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() can end everything it spawned
                env=self._environment(),
            )
        finally:
            console.close()
        _live_sandboxes.add(self)
        try:
            self._wait_fully_booted(timeout)
            self._check_listening()
        except BaseException:
            self.stop()
            raise

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Runs one CLI command in the sandboxed Asterisk and returns its output."""
        try:
            done = subprocess.run(
                [str(self.binary), "-C", str(self.config_path), "-rx", command],
                capture_output=True, text=True, timeout=timeout, check=False, env=self._environment(),
            )
        except subprocess.TimeoutExpired as exc:
            raise AsteriskSandboxError(f"`{command}` took longer than {timeout} s") from exc
        output = _ANSI_ESCAPE.sub("", done.stdout + done.stderr)
        if done.returncode != 0 or output.startswith("Unable to connect to remote asterisk"):
            raise AsteriskSandboxError(f"`{command}` failed ({done.returncode}): {output.strip()}")
        return output

    def channels(self) -> list[str]:
        """Names of the channels that exist now (``core show channels concise``)."""
        lines = self.rx("core show channels concise").splitlines()
        return [line.split("!", 1)[0] for line in lines if "!" in line]

    def wait_no_channels(self, timeout: float = 10.0) -> None:
        """Waits until no channel is left; raises naming the ones still up."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.channels()
            if not left:
                return
            if time.monotonic() >= deadline:
                raise AsteriskSandboxError(f"channels still up after {timeout} s: {left}")
            time.sleep(0.1)

    def ami(self, timeout: float = 10.0) -> AmiClient:
        """A new AMI connection, logged in as the sandbox's user. Close it (or use ``with``)."""
        client = AmiClient("127.0.0.1", self.ami_port, timeout=timeout)
        try:
            client.login(self.ami_username, self.ami_secret)
        except BaseException:
            client.close()
            raise
        return client

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the full log (or of the console output if there is no log)."""
        for path in (self.log_path, self.console_log_path):
            try:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                continue
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stops Asterisk (``core stop now``, then SIGTERM, then SIGKILL to its process group) and
        removes the sandbox folder unless asked to keep it. Safe to call any number of times."""
        if self._stopped:
            return
        self._stopped = True
        _live_sandboxes.discard(self)
        process = self._process
        if process is not None:
            self._end_process(process, timeout)
        if self._owns_base_dir and not self.keep_files:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        if self._short_run_dir and not self.keep_files:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ------------------------------------------------------------ starting and stopping

    def _start_command(self) -> list[str]:
        command = [str(self.binary), "-C", str(self.config_path), "-f", "-n", "-g"]
        setpriv = shutil.which("setpriv")
        if self.die_with_parent and setpriv:
            # The kernel sends SIGTERM to Asterisk if the thread that started it dies, even by
            # SIGKILL or os._exit, where neither __exit__ nor atexit runs. So start a sandbox from a
            # thread that lives as long as it (the main thread usually), or pass die_with_parent=False.
            command = [setpriv, "--pdeathsig", "SIGTERM", "--", *command]
        return command

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # A prefix build finds its own libraries by rpath; this also covers a build without one.
        lib_dir = self.binary.resolve().parent.parent / "lib"
        if any(lib_dir.glob("libasterisk*.so*")):
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                p for p in (str(lib_dir), env.get("LD_LIBRARY_PATH", "")) if p
            )
        return env

    def _wait_fully_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise AsteriskSandboxError(
                    f"Asterisk exited with {self._process.returncode} while starting; log:\n{self.log_tail()}"
                )
            if (self.run_dir / "asterisk.ctl").exists():
                try:
                    answer = self.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                except AsteriskSandboxError as exc:
                    answer = last_error = str(exc)
                # An Asterisk that is exiting may accept the connection and close it unanswered.
                if "fully booted" in answer:
                    return
            time.sleep(0.1)
        raise AsteriskSandboxError(
            f"Asterisk did not finish booting within {timeout} s ({last_error}); log:\n{self.log_tail()}"
        )

    def _check_listening(self) -> None:
        """Fails early, with the log, if another program already held our SIP or AMI port."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.sip_port))
            except OSError:
                pass  # bound by Asterisk, as it should be
            else:
                raise AsteriskSandboxError(
                    f"Asterisk is not listening for SIP on 127.0.0.1:{self.sip_port}; log:\n{self.log_tail()}"
                )
        try:
            AmiClient("127.0.0.1", self.ami_port, timeout=5.0).close()
        except AmiError as exc:
            raise AsteriskSandboxError(
                f"AMI does not answer on 127.0.0.1:{self.ami_port} ({exc}); log:\n{self.log_tail()}"
            ) from exc

    def _end_process(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        if process.poll() is None:
            try:
                self.rx("core stop now", timeout=timeout)
            except AsteriskSandboxError:
                pass  # not answering: the signals below end it
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if process.poll() is not None:
                break
            _signal_group(process.pid, sig)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        # Whatever Asterisk spawned (System, MixMonitor commands) shares its process group.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()

    # ------------------------------------------------------------ writing the sandbox

    def _check_socket_path(self) -> None:
        control_socket = self.run_dir / "asterisk.ctl"
        if len(str(control_socket)) > MAX_SOCKET_PATH:
            raise AsteriskSandboxError(
                f"sandbox folder {self.base_dir} is too long for Asterisk's control socket; use a shorter one"
            )

    def _write_tree(self, config_files: dict[str, str]) -> None:
        for folder in ("etc", "data", "log", "log/cdr-csv", "run", "spool", "lib", "db", "agi-bin", "keys", "cache"):
            (self.base_dir / folder).mkdir(parents=True, exist_ok=True)
        self._link_system_sounds()
        values = self.template_values
        files = {name: render_template(text, values) for name, text in config_files.items()}
        for name, baseline in self._baseline_files().items():
            extra = files.pop(name, "")
            files[name] = baseline + ("\n; ---- from the caller\n" + extra if extra else "")
        for name, default in self._default_files().items():
            files.setdefault(name, default)
        for name, text in files.items():
            target = (self.etc_dir / name).resolve()
            if self.etc_dir not in target.parents:
                raise ValueError(f"config file name {name!r} leaves the sandbox's etc folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def _link_system_sounds(self) -> None:
        """Fills sounds/<lang>/ (en from en_US_f_Allison, fr from fr_CA_f_June...) and moh/ with links
        to Debian's files. The folders themselves are the sandbox's own, so a caller may add
        prompts (e.g. sounds/en/respectline/...) without writing into the system's folders."""
        self.sounds_dir.mkdir(parents=True, exist_ok=True)
        system_sounds = self._system_sounds_root / "sounds"
        voices = sorted(system_sounds.iterdir()) if system_sounds.is_dir() else []
        for voice in voices:
            if voice.is_dir():
                _link_entries(voice, self.sounds_dir / voice.name.split("_", 1)[0])
        moh = self.data_dir / "moh"
        moh.mkdir(exist_ok=True)
        system_moh = self._system_sounds_root / "moh"
        if system_moh.is_dir():
            _link_entries(system_moh, moh)

    def _baseline_files(self) -> dict[str, str]:
        b = self.base_dir
        return {
            "asterisk.conf": (
                "[directories]\n"
                f"astetcdir => {self.etc_dir}\n"
                f"astvarlibdir => {b / 'lib'}\n"
                f"astdbdir => {b / 'db'}\n"
                f"astkeydir => {b / 'keys'}\n"
                f"astdatadir => {self.data_dir}\n"
                f"astagidir => {b / 'agi-bin'}\n"
                f"astspooldir => {self.spool_dir}\n"
                f"astrundir => {self.run_dir}\n"
                f"astlogdir => {self.log_dir}\n"
                f"astcachedir => {b / 'cache'}\n"
                f"astsbindir => {self.binary.resolve().parent}\n"
                "\n[options]\n"
                f"verbose = {self.verbose}\n"
                "debug = 0\n"
                "nocolor = yes\n"
                "defaultlanguage = en\n"
                "autosystemname = no\n"
                "systemname = respectline-sandbox\n"
            ),
            "modules.conf": (
                "[modules]\nautoload = yes\n"
                + "".join(f"noload => {module}\n" for module in NOISY_MODULES)
            ),
            "logger.conf": (
                "[general]\ndateformat = %F %T.%3q\n\n"
                "[logfiles]\n"
                "full => notice,warning,error,verbose,dtmf\n"
                "console => notice,warning,error\n"
            ),
            "manager.conf": (
                "[general]\nenabled = yes\n"
                f"port = {self.ami_port}\nbindaddr = 127.0.0.1\ndisplayconnects = no\n\n"
                f"[{self.ami_username}]\nsecret = {self.ami_secret}\n"
                "deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\n"
                "read = all\nwrite = all\n"
            ),
            "rtp.conf": f"[general]\nrtpstart = {self.rtp_start}\nrtpend = {self.rtp_end}\n",
            "pjsip.conf": (
                f"[{SIP_TRANSPORT}]\ntype = transport\nprotocol = udp\n"
                f"bind = 127.0.0.1:{self.sip_port}\n"
            ),
        }

    @staticmethod
    def _default_files() -> dict[str, str]:
        # Written only when the caller gives no such file; the empty ones keep the log free of
        # "Unable to load config file" noise so that real errors stand out.
        empty = "[general]\n"
        return {
            # app_queue refuses to load without a queues.conf.
            "queues.conf": "[general]\npersistentmembers = no\n",
            "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n[default]\n",
            "musiconhold.conf": "[default]\nmode = files\ndirectory = moh\n",
            "features.conf": empty,
            # cdr_csv declines to load without a [csv] section.
            "cdr.conf": "[general]\nenable = yes\n\n[csv]\nloguniqueid = yes\nloguserfield = yes\n",
            "indications.conf": INDICATIONS_CONF,
            "cel.conf": empty,
            "acl.conf": "",
            "udptl.conf": empty,
            "ccss.conf": empty,
            "pjproject.conf": "",
            "queuerules.conf": "",
            "statsd.conf": empty,
            "geolocation.conf": "",
            "pjsip_wizard.conf": "",
        }


# Ring, busy and congestion tones (North American plan), for Dial()'s and Playtones' indications.
INDICATIONS_CONF = """[general]
country = us

[us]
description = United States / North America
ringcadence = 2000,4000
dial = 350+440
busy = 480+620/500,0/500
ring = 440+480/2000,0/4000
congestion = 480+620/250,0/250
callwaiting = 440/300,0/10000
dialrecall = !350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440
record = 1400/500,0/15000
info = !950/330,!1400/330,!1800/330,0
"""


def _link_entries(source: Path, target: Path) -> None:
    """Links each entry of ``source`` into the folder ``target``; existing names are kept (first wins)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        link = target / entry.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
