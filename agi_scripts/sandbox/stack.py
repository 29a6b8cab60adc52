"""A whole Respectline installation in a temporary folder: Asterisk, prompts, the server.

Used by the end-to-end tests, ``respectline demo`` and ``respectline sandbox-run``. It does what
an admin does, in the same order and with the same commands' code: build the prompts, generate the
Asterisk files from the flows, add the demo's SIP phones and numbers, start Asterisk, install the
prompts and hold music into its sounds folder, and start ``respectline serve`` as its own process.

Numbers in the demo dialplan (context ``demo-phones``):
  100 support, 200 billing (both through ``respectline-queue``), 110 support in French, and the
  agents' compliments line (``compliments.agent_line``, ``*88``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from agi_scripts.asterisk_conf.generate import generate, hold_gap_lengths, queue_members
from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.prompts.build import build_prompts
from agi_scripts.prompts.engines import EspeakEngine
from agi_scripts.prompts.hold import DEFAULT_MOH_DIR, build_hold_gaps
from agi_scripts.prompts.install import install_prompts
from agi_scripts.sandbox.asterisk import AsteriskSandbox, free_port
from agi_scripts.sandbox.sip import default_password, pjsip_endpoints_conf

def _shipped_files() -> Path:
    """The folder with the shipped ``config/``, ``flows/`` and ``audio_prompts/``: the checkout this
    module runs from, or ``<prefix>/share/respectline`` where ``pip install '.[demo]'`` puts them."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "flows" / "abuse_policy.yaml").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "respectline"


def _prompt_build_dir(root: Path) -> Path:
    if os.access(root, os.W_OK):
        return root / "var" / "sounds" / "respectline"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "respectline" / "sounds" / "respectline"  # an installed package's folder is not ours to write


PROJECT_ROOT = _shipped_files()
PROMPT_BUILD_DIR = _prompt_build_dir(PROJECT_ROOT)
"""Built once and reused: the build is incremental (content hashes), so later runs cost nothing."""
DEMO_CONTEXT = "demo-phones"
NUMBERS = {"support": "100", "billing": "200"}
FRENCH_SUPPORT = "110"


@dataclass
class StackOptions:
    agents: Mapping[str, Sequence[str]] = field(default_factory=lambda: {"agent1": ["support", "billing"]})
    """Agent username -> queues they are a member of."""
    callers: Sequence[str] = ("caller1",)
    agent_names: Mapping[str, str] = field(default_factory=dict)
    """Agent username -> the agent's name in the config's ``agents`` section (default: none, so the
    device ``PJSIP/<username>`` names them). Their queue member name and their phone's caller ID name
    are deliberately other texts (``Member <username>``, ``Phone <username>``): neither may decide who
    the agent is."""
    config_file: Path = PROJECT_ROOT / "config" / "respectline.yaml"
    flows_dir: Path | None = None
    """Use these flows instead of the config's (tests edit a copy)."""
    db_url: str | None = None
    recordings_dir: Path | None = None
    """Where compliments and evidence go (default: inside the sandbox, removed with it)."""
    extra_dialplan: str = ""
    server: bool = True
    """Start ``respectline serve`` (tests of the fall-through start without it)."""
    transcription_model: Path | None = None
    """A model folder: the server transcribes evidence and spoken compliments with it (default: off)."""


def member_name(agent: str) -> str:
    """The sandbox's queue member name for an agent: not their name, on purpose."""
    return f"Member {agent}"


def phone_name(agent: str) -> str:
    """The caller ID name the sandbox gives an agent's phone: not their name either."""
    return f"Phone {agent}"


class RespectlineStack:
    def __init__(self, options: StackOptions | None = None, work_dir: Path | None = None) -> None:
        self.options = options or StackOptions()
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="rl-stack-")).resolve()
        self.agi_port = free_port()
        self.config_path = self.work_dir / "config" / "respectline.yaml"
        self.db_url = self.options.db_url or f"sqlite:///{self.work_dir / 'respectline.sqlite'}"
        self.recordings_dir = (self.options.recordings_dir or self.work_dir / "recordings").resolve()
        self.server_log = self.work_dir / "respectline-serve.log"
        self._server: subprocess.Popen[bytes] | None = None
        self.bundle: Bundle
        self.asterisk: AsteriskSandbox

    # -------------------------------------------------------------- life cycle

    def start(self) -> RespectlineStack:
        self._write_config()
        self.bundle = load_bundle(self.config_path)
        self.asterisk = AsteriskSandbox(self._asterisk_files(), base_dir=self.work_dir / "asterisk")
        self._give_server_ami()
        self.asterisk.start()
        self._install_sounds()  # sound files are opened when played: installing after boot is fine
        if self.options.server:
            self.start_server()
        return self

    def stop(self) -> None:
        self.stop_server()
        if hasattr(self, "asterisk"):
            self.asterisk.stop()
        if self._owns_work_dir and os.environ.get("RESPECTLINE_KEEP_SANDBOX") != "1":
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> RespectlineStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start_server(self, timeout: float = 20.0) -> None:
        if self._server is not None:
            return
        log = self.server_log.open("ab")
        self._server = subprocess.Popen(
            [sys.executable, "-m", "agi_scripts.cli.main", "serve", "--config", str(self.config_path),
             "--db", self.db_url],
            stdout=subprocess.PIPE, stderr=log, cwd=PROJECT_ROOT, start_new_session=True)
        log.close()
        assert self._server.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._server.stdout.readline().decode()
            if line.startswith("listening on"):
                return
            if not line and self._server.poll() is not None:
                break
        self.stop_server()
        raise RuntimeError(f"respectline serve did not start; see {self.server_log}:\n{self.server_log_tail()}")

    def stop_server(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the server (it drains calls) and return its exit status."""
        server, self._server = self._server, None
        if server is None:
            return None
        server.send_signal(signal.SIGTERM)
        try:
            return server.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            return server.wait()

    def server_log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -------------------------------------------------------------- what is rendered

    @property
    def sip_port(self) -> int:
        return self.asterisk.sip_port

    def number(self, queue: str) -> str:
        return NUMBERS[queue]

    def _write_config(self) -> None:
        source = self.options.config_file
        flows = self.options.flows_dir or (source.parent / "../flows").resolve()
        text = source.read_text(encoding="utf-8")
        replacements = {
            "listen: 127.0.0.1:4573": f"listen: 127.0.0.1:{self.agi_port}",
            "flows: ../flows": f"flows: {flows}",
            "prompts: ../audio_prompts/prompts.yaml": f"prompts: {PROJECT_ROOT / 'audio_prompts' / 'prompts.yaml'}",
            "sounds: /usr/share/asterisk/sounds": f"sounds: {self.work_dir / 'asterisk' / 'data' / 'sounds'}",
            "recordings: ../var/recordings": f"recordings: {self.recordings_dir}",
            "url: sqlite:///../var/respectline.sqlite": f"url: {self.db_url}",
            "agents: {}": "agents:" + "".join(f"\n  {name}: PJSIP/{agent}"
                                              for agent, name in self.options.agent_names.items()) + "\n"
                          if self.options.agent_names else "agents: {}",
        }
        for old, new in replacements.items():
            if old not in text:
                raise RuntimeError(f"{source}: expected the line {old!r} to adapt it to the sandbox")
            text = text.replace(old, new)
        if self.options.transcription_model is not None:
            # One thread, as a small site would give it; a short settle time: the sandbox's calls are short.
            text += (f"\ntranscription:\n  model: {self.options.transcription_model}\n  cpu_threads: 1\n"
                     "  settle_time: 2s\n")
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text, encoding="utf-8")
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

    def _give_server_ami(self) -> None:
        """The server ends agents' pauses through the sandbox's AMI account."""
        text = self.config_path.read_text(encoding="utf-8")
        for old, new in (("  port: 5038", f"  port: {self.asterisk.ami_port}"),
                         ('  username: ""', f"  username: {self.asterisk.ami_username}"),
                         ('  secret: ""', f'  secret: "{self.asterisk.ami_secret}"')):
            if old not in text:
                raise RuntimeError(f"{self.options.config_file}: expected {old!r} in the ami section")
            text = text.replace(old, new, 1)
        self.config_path.write_text(text, encoding="utf-8")

    def _asterisk_files(self) -> dict[str, str]:
        members: dict[str, list[str]] = {}
        for agent, queues in self.options.agents.items():
            for queue in queues:
                members.setdefault(queue, []).append(f"PJSIP/{agent},0,{member_name(agent)}")
        generated = generate(self.bundle, f"127.0.0.1:{self.agi_port}")
        # As the generated file tells admins: their own queues name the template, the teams' get members with (+).
        team_queues = {team.queue for team in self.bundle.abuse_policy.teams.values()}
        own_queues = "".join(f"\n[{queue}](respectline)\nstrategy=rrmemory\n"
                             + "".join(f"member => {member}\n" for member in members.get(queue, ()))
                             for queue in self.bundle.settings.queues)
        team_members = "".join("\n" + queue_members(queue, members[queue])
                               for queue in sorted(team_queues) if members.get(queue))
        phones = pjsip_endpoints_conf(list(self.options.agents), list(self.options.callers), DEMO_CONTEXT,
                                      agent_names={agent: phone_name(agent) for agent in self.options.agents})
        numbers = "".join(f"exten => {number},1,Goto(respectline-queue,{queue},1)\n"
                          for queue, number in NUMBERS.items())
        # The same support queue for a French-speaking caller (an IVR choice, in real life).
        numbers += f"exten => {FRENCH_SUPPORT},1,Set(CHANNEL(language)=fr)\n same => n,Goto(respectline-queue,support,1)\n"
        numbers += "include => respectline-agents\n"
        return {
            "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n"
                               + generated["extensions_respectline.conf"]
                               + f"\n[{DEMO_CONTEXT}]\n{numbers}{self.options.extra_dialplan}",
            "features.conf": "[general]\nfeaturedigittimeout = 1500\n\n" + generated["features_respectline.conf"],
            "queues.conf": "[general]\npersistentmembers = no\n\n" + generated["queues_respectline.conf"]
                           + own_queues + team_members,
            "musiconhold.conf": "[default]\nmode = files\ndirectory = moh\n\n"
                                + generated["musiconhold_respectline.conf"],
            "pjsip.conf": phones,
        }

    def _install_sounds(self) -> None:
        catalog = self.bundle.prompts
        build_prompts(catalog, EspeakEngine(), PROMPT_BUILD_DIR)
        install_prompts(self.asterisk.sounds_dir, PROMPT_BUILD_DIR)
        build_hold_gaps(hold_gap_lengths(self.bundle), DEFAULT_MOH_DIR, self.asterisk.sounds_dir)

    def prompt_file(self, prompt_id: str, language: str) -> Path:
        """The audio a caller hears for a prompt, to compare recordings against."""
        return self.asterisk.sounds_dir / "respectline" / language / f"{prompt_id}.wav"

    def password(self, user: str) -> str:
        return default_password(user)
