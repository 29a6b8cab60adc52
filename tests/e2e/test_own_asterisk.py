"""An admin wires Respectline into their OWN Asterisk, following the README and nothing else.

The Asterisk configuration here is hand-written the way the README's walk-through says (not
RespectlineStack's wiring): pjsip.conf with a caller, an agent and a Special Care desk whose caller
ID names differ from their queue member names; extensions.conf, queues.conf, features.conf and
musiconhold.conf that ``#include`` the generated files; manager.conf with a least-privilege account
for the server (``write = agent``) and one for doctor (``write = command,config``). Every
``respectline`` command runs as a subprocess from another working folder with ``--config``.

Through it: a hold campaign heard, a compliment left and then heard by the agent on ``*88``, a flag
whose warning the caller hears; ``respectline doctor`` passing, then failing with the fix printed
for a wrong sounds folder, a missing ``#include`` and a server account without ``write = agent``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.sandbox.asterisk import AsteriskNotFound, AsteriskSandbox, free_port
from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.demo import demo_flows, speak
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem, default_password
from agi_scripts.storage import Compliment, open_store
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS
from tests.support.calls import connect

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
RESPECTLINE = [str(Path(sys.executable).parent / "respectline")]
SPOKEN = "Thank you for sorting out my bill so quickly, you made my day."
SUPPORT = "100"

# ------------------------------------------------------------------ the admin's own files


def endpoint(name: str, caller_id: str | None) -> str:
    """One phone in pjsip.conf, as an admin writes it."""
    callerid = f"callerid={caller_id}\n" if caller_id else ""
    return f"""
[{name}]
type=endpoint
transport=transport-udp
context=phones
{callerid}disallow=all
allow=ulaw,alaw
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
password={default_password(name)}

[{name}]
type=aor
max_contacts=1
remove_existing=yes
"""


# The agent's phone shows "Desk 7", the queue member is "Member agent1", agents: in the config names
# them "Agent One": Respectline must go by the device, never by the caller ID or member name.
PJSIP = endpoint("caller1", None) + endpoint("agent1", '"Desk 7" <7007>') + endpoint("care1", '"Care desk" <7100>')

INCLUDE_QUEUES = '#include "${etc_dir}/respectline/queues_respectline.conf"\n'
QUEUES = f"""[general]
persistentmembers = no

{INCLUDE_QUEUES}
[support](respectline)
strategy = rrmemory
member => PJSIP/agent1,0,Member agent1

[billing](respectline)
member => PJSIP/agent1,0,Member agent1

[special-care](+)
member => PJSIP/care1,0,Sam
"""

EXTENSIONS = """[general]
static = yes
writeprotect = yes

#include "${etc_dir}/respectline/extensions_respectline.conf"

[phones]
exten => 100,1,Goto(respectline-queue,support,1)
exten => 200,1,Goto(respectline-queue,billing,1)
include => respectline-agents
"""

FEATURES = """[general]
featuredigittimeout = 1500

#include "${etc_dir}/respectline/features_respectline.conf"
"""

MUSICONHOLD = """[default]
mode = files
directory = moh

#include "${etc_dir}/respectline/musiconhold_respectline.conf"
"""

SERVER_RIGHTS = "read = none\nwrite = agent\n"


def manager(server_secret: str, doctor_secret: str, server_rights: str = SERVER_RIGHTS) -> str:
    """Appended by the sandbox to its [general] (the sandbox's own account stays for the test's rx)."""
    return f"""
[rlserver]
secret = {server_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
{server_rights}
[rldoctor]
secret = {doctor_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = none
write = command,config
"""


# ------------------------------------------------------------------ the site


@dataclass
class Site:
    asterisk: AsteriskSandbox
    config: Path
    workdir: Path
    db_url: str
    recordings: Path
    doctor_secret: str
    server_secret: str
    server: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, config: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A respectline command as an admin types it, from the admin's own folder."""
        return subprocess.run([*RESPECTLINE, *args, "--config", str(config or self.config)], cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout, env=_env())

    def doctor(self, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RESPECTLINE, "doctor", "--config", str(config or self.config), "--ami-user", "rldoctor",
                               "--timeout", "5"], cwd=self.workdir, capture_output=True, text=True, timeout=90,
                              env={**_env(), "RESPECTLINE_DOCTOR_SECRET": self.doctor_secret})

    def prompt(self, prompt_id: str, language: str = "en") -> Path:
        return self.asterisk.sounds_dir / "respectline" / language / f"{prompt_id}.wav"

    def conf(self, name: str) -> Path:
        return self.asterisk.etc_dir / name


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "RESPECTLINE_CONFIG"}


def write_config(folder: Path, asterisk: AsteriskSandbox, agi_port: int, server_secret: str, db_url: str,
                 recordings: Path) -> Path:
    """config/respectline.yaml as an admin adapts it: their paths, their AMI account, their agents."""
    text = (PROJECT / "config" / "respectline.yaml").read_text(encoding="utf-8")
    replacements = {
        "listen: 127.0.0.1:4573": f"listen: 127.0.0.1:{agi_port}",
        "flows: ../flows": f"flows: {demo_flows(folder, ALWAYS_ON_CAMPAIGNS)}",
        "prompts: ../audio_prompts/prompts.yaml": f"prompts: {PROJECT / 'audio_prompts' / 'prompts.yaml'}\n"
                                                  # the project's build cache: unchanged prompts are not redone
                                                  f"  built_prompts: {PROJECT / 'var' / 'sounds' / 'respectline'}",
        "sounds: /usr/share/asterisk/sounds": f"sounds: {asterisk.sounds_dir}",
        "recordings: ../var/recordings": f"recordings: {recordings}",
        "url: sqlite:///../var/respectline.sqlite": f"url: {db_url}",
        "  port: 5038": f"  port: {asterisk.ami_port}",
        '  username: ""': "  username: rlserver",
        '  secret: ""': f'  secret: "{server_secret}"',
    }
    for old, new in replacements.items():
        assert old in text, f"config/respectline.yaml no longer has {old!r}"
        text = text.replace(old, new, 1)
    agents = "agents:\n  Agent One: PJSIP/agent1\n  Sam: PJSIP/care1\n"
    text = text.replace("agents: {}\n", agents) if "agents: {}\n" in text else text + "\n" + agents
    config = folder / "etc-respectline" / "respectline.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(text, encoding="utf-8")
    return config


def start_server(site: Site, timeout: float = 20.0) -> None:
    log = (site.workdir / "serve.log").open("ab")
    server = subprocess.Popen([*RESPECTLINE, "serve", "--config", str(site.config), "--db", site.db_url],
                              stdout=subprocess.PIPE, stderr=log, cwd=site.workdir, env=_env(),
                              start_new_session=True)
    log.close()
    site.server = server
    assert server.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        if line.startswith("listening on"):
            return
        if not line and server.poll() is not None:
            break
    pytest.fail(f"respectline serve did not start:\n{(site.workdir / 'serve.log').read_text(errors='replace')[-3000:]}")


def stop_server(site: Site) -> None:
    server, site.server = site.server, None
    if server is None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def must(result: subprocess.CompletedProcess[str], what: str) -> None:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("own-asterisk")
    workdir = folder / "admin"  # the admin's shell: no checkout here
    workdir.mkdir()
    server_secret, doctor_secret = secrets.token_hex(12), secrets.token_hex(12)
    files = {"pjsip.conf": PJSIP, "extensions.conf": EXTENSIONS, "queues.conf": QUEUES, "features.conf": FEATURES,
             "musiconhold.conf": MUSICONHOLD, "manager.conf": manager(server_secret, doctor_secret)}
    try:
        asterisk = AsteriskSandbox(files, base_dir=folder / "asterisk")
    except AsteriskNotFound as error:
        pytest.fail(f"Asterisk is not installed: run `make asterisk` ({error})")
    recordings = folder / "recordings"
    recordings.mkdir()
    db_url = f"sqlite:///{folder / 'respectline.sqlite'}"
    config = write_config(folder, asterisk, free_port(), server_secret, db_url, recordings)
    site = Site(asterisk, config, workdir, db_url, recordings, doctor_secret, server_secret)
    try:
        # The README's steps, in its order.
        must(site.run("validate"), "respectline validate")
        must(site.run("asterisk-conf", "--out", str(asterisk.etc_dir / "respectline")), "respectline asterisk-conf")
        must(site.run("prompts", "build", "--engine", "espeak"), "respectline prompts build")
        must(site.run("prompts", "install"), "respectline prompts install")
        must(site.run("prompts", "hold-music"), "respectline prompts hold-music")
        asterisk.start()
        start_server(site)
        yield site
    finally:
        stop_server(site)
        asterisk.stop()


@pytest.fixture(scope="module")
def phones(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipPhoneSystem]:
    folder = tmp_path_factory.mktemp("own-phones")
    with SipPhoneSystem("127.0.0.1", site.asterisk.sip_port, record_dir=folder / "recordings",
                        log_path=folder / "pjsua.log") as system:
        yield system


@pytest.fixture(scope="module")
def agent(phones: SipPhoneSystem) -> SipAgent:
    agent = phones.agent("agent1", ring_delay=0.3)
    phones.wait_until(lambda: agent.registered, 10, "agent1 registered")
    return agent


@pytest.fixture(scope="module")
def caller(phones: SipPhoneSystem) -> SipCaller:
    return phones.caller("caller1", caller_id_name="Alice", caller_id_number="+32471234512")


@pytest.fixture(autouse=True)
def no_channel_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "site" not in request.fixturenames:
        return
    site: Site = request.getfixturevalue("site")
    if "phones" in request.fixturenames:
        phones: SipPhoneSystem = request.getfixturevalue("phones")
        for peer in phones.peers:
            if peer.in_call:
                peer.hangup()
        phones.pump(0.5)
    site.asterisk.wait_no_channels(15)


def seconds_of(wav_file: Path) -> float:
    with wave.open(str(wav_file), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def agi_running(site: Site) -> bool:
    rows = [line.split("!") for line in site.asterisk.rx("core show channels concise").splitlines()]
    return any(len(row) > 5 and row[5] == "AGI" for row in rows)


def newest_compliment(site: Site) -> Compliment | None:
    store = open_store(site.db_url)
    try:
        found = store.list_compliments(limit=1)
    finally:
        store.close()
    return found[0] if found else None


# ------------------------------------------------------------------ calls


def test_doctor_passes_on_the_wiring_the_readme_describes(site: Site) -> None:
    result = site.doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "all " in result.stdout and "checks passed" in result.stdout


def test_waiting_caller_hears_the_campaign(site: Site, phones: SipPhoneSystem, agent: SipAgent,
                                           caller: SipCaller) -> None:
    agent.auto_answer = False  # nobody picks up: the caller waits in the queue
    try:
        caller.call(SUPPORT)
        phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 10, "caller answered by the dialplan")
        prompt = site.prompt("campaign_contact_day")
        phones.pump(4 + seconds_of(prompt) + 3)  # first_after 4 s of music, then the message
        caller.hangup()
        phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 10, "caller hung up")
        phones.pump(0.3)
    finally:
        agent.auto_answer = True
    assert caller.last_recording is not None
    assert contains_prompt(caller.last_recording, prompt).matched


def test_compliment_is_stored_for_the_member_and_heard_by_the_agent_on_the_agents_line(
        site: Site, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller, tmp_path: Path) -> None:
    spoken = speak(SPOKEN, tmp_path / "spoken.wav")
    connect(phones, caller, agent, SUPPORT)
    phones.pump(1.0)
    agent.hangup()
    phones.wait_until(lambda: agi_running(site), 10, "post_call started", interval=0.2)
    compliments = site.recordings / "compliments"
    for key in "141":  # accept, four stars, record a message
        phones.pump(2.0)
        caller.press(key)
    phones.wait_until(lambda: compliments.is_dir() and any(compliments.rglob("*.wav")), 30, "recording started",
                      interval=0.1)
    phones.pump(0.5)
    phones.pump(caller.play(spoken) + 0.5)
    caller.press("#")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "post_call thanked and hung up")

    compliment = newest_compliment(site)
    assert compliment is not None and compliment.rating == 4
    assert compliment.agent == "Agent One"  # agents: names the device; not "Member agent1", not "Desk 7"
    assert compliment.recording is not None and contains_prompt(Path(compliment.recording), spoken).matched
    # Spoken messages wait for the team lead while nothing transcribes them (screening.without_transcript).
    must(subprocess.run([*RESPECTLINE, "compliments", "review", "release", str(compliment.id), "--by", "Team Lead",
                         "--config", str(site.config), "--db", site.db_url], capture_output=True, text=True,
                        env=_env(), timeout=60), "respectline compliments review release")

    own_line = phones.caller("agent1")  # the agent's own phone calls *88
    own_line.call("*88")
    phones.wait_until(lambda: own_line.state is PeerState.CONNECTED, 10, "agents' line answered")
    phones.wait_until(lambda: own_line.state is PeerState.DISCONNECTED, 90, "agents' line finished")
    phones.pump(0.3)
    assert own_line.last_recording is not None
    assert contains_prompt(own_line.last_recording, site.prompt("agent_compliments_one_new")).matched
    assert contains_prompt(own_line.last_recording, spoken).matched


def test_agents_flag_warns_the_caller(site: Site, phones: SipPhoneSystem, agent: SipAgent,
                                      caller: SipCaller) -> None:
    connect(phones, caller, agent, "200")
    phones.pump(1.0)
    agent.press("*1")
    phones.pump(16.0)  # the recording notice, then the warning
    assert caller.state is PeerState.CONNECTED
    caller.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                      15, "call ended")
    phones.pump(0.3)
    assert caller.last_recording is not None and agent.last_recording is not None
    warning = site.prompt("abuse_warning")
    assert contains_prompt(caller.last_recording, warning).matched
    assert not contains_prompt(agent.last_recording, warning).matched


# ------------------------------------------------------------------ doctor on broken wiring


def test_doctor_fails_on_a_sounds_folder_that_is_not_asterisks(site: Site) -> None:
    elsewhere = site.workdir / "sounds-elsewhere"
    elsewhere.mkdir(exist_ok=True)
    broken = site.config.with_name("wrong-sounds.yaml")
    broken.write_text(site.config.read_text().replace(f"sounds: {site.asterisk.sounds_dir}", f"sounds: {elsewhere}"))
    must(site.run("prompts", "install", config=broken), "prompts install into the wrong folder")
    result = site.doctor(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"paths.sounds is {elsewhere} but Asterisk plays sounds from {site.asterisk.sounds_dir}" in result.stdout
    assert f"fix: set 'sounds: {site.asterisk.sounds_dir}' under paths: in {broken}" in result.stdout


def test_doctor_fails_on_a_missing_queues_include(site: Site) -> None:
    queues = site.conf("queues.conf")
    original = queues.read_text()
    include = f'#include "{site.asterisk.etc_dir}/respectline/queues_respectline.conf"'
    assert include in original
    queues.write_text(original.replace(include, "; (include forgotten)"))
    try:
        site.asterisk.rx("module reload app_queue")
        result = site.doctor()
    finally:
        queues.write_text(original)
        site.asterisk.rx("module reload app_queue")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"fix: add '{include}' near the top of queues.conf" in result.stdout
    assert site.doctor().returncode == 0  # and fixed again


def test_doctor_fails_when_the_servers_account_may_not_pause_agents(site: Site) -> None:
    manager_conf = site.conf("manager.conf")
    original = manager_conf.read_text()
    assert SERVER_RIGHTS in original
    manager_conf.write_text(original.replace(SERVER_RIGHTS, "read = none\nwrite = user\n"))
    try:
        site.asterisk.rx("manager reload")
        result = site.doctor()
    finally:
        manager_conf.write_text(original)
        site.asterisk.rx("manager reload")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the server's AMI account 'rlserver' may not send QueuePause" in result.stdout
    assert "fix: in manager.conf, section [rlserver]: write = agent" in result.stdout
