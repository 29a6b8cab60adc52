"""`make demo` ends with a compliment in the store whose recording holds the caller's voice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.demo import ALICE_SAYS, speak
from agi_scripts.transcribe.measure import missing_key_words
from tests.support.config_tree import PROJECT

pytestmark = pytest.mark.e2e


def respectline(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(600)
def test_demo_leaves_a_spoken_five_star_compliment_and_a_case(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    demo = respectline("demo", "--db", db, timeout=400)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "no channel left in Asterisk" in demo.stdout
    assert "screening: " in demo.stdout  # whether Agent One may hear the compliment on *88 yet
    assert "Agent One heard the thank-you message" in demo.stdout  # scene 1b, checked by correlation
    assert "thank-you round demo-thank-you: Agent One reached after 1 try" in demo.stdout
    # Scene 2b: after Bob's disconnect the team lead on duty is rung, presses 1 and talks to Agent One.
    assert "check_in_requested, check_in_connected (Team lead)" in demo.stdout, demo.stdout[-3000:]
    # One desk account per role, printed with its password and kept beside the store for `make desk`.
    accounts = demo.stdout[demo.stdout.index("Desk accounts in"):]
    for role in ("special_care", "security", "supervisor", "admin", "agent"):
        assert f"({role}" in accounts, accounts
    assert (tmp_path / "demo-desk-accounts.txt").read_text() == accounts

    report = respectline("report", "compliments", "--db", db, "--format", "json")
    assert report.returncode == 0, report.stderr
    [compliment] = json.loads(report.stdout)
    assert (compliment["agent"], compliment["campaign"], compliment["rating"]) == ("Agent One", "demo-contact-day", 5)
    recording = Path(compliment["recording"])
    assert recording.is_file()
    assert contains_prompt(recording, speak(ALICE_SAYS, tmp_path / "alice.wav")).matched

    cases = respectline("cases", "list", "--db", db, "--format", "json")
    assert cases.returncode == 0, cases.stderr
    [case] = json.loads(cases.stdout)
    assert (case["team"], case["category"], case["status"]) == ("special_care", "verbal_abuse", "open")
    # Bob's evidence transcribed with the test model by respectline serve, printed in the closing summary.
    transcript = case["transcript"]
    assert transcript is not None and transcript["status"] == "done", demo.stdout[-3000:]
    said_by_bob = " ".join(s["text"] for s in transcript["segments"] if s["speaker"] == "caller")
    assert missing_key_words(("useless", "idiot"), said_by_bob) == [], transcript
    assert "transcript of the evidence of call" in demo.stdout and "] caller: " in demo.stdout

    # The abusive caller's GDPR access request finds the case and its evidence recording.
    export = respectline("privacy", "export", "--caller", case["caller"], "--db", db)
    assert export.returncode == 0, export.stderr
    held = json.loads(export.stdout)
    assert [c["id"] for c in held["cases"]] == [case["id"]]
    assert {"path": case["recording"], "exists": True} in held["recordings"]
