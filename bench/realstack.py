"""The informative peer: the product itself (``respectline serve``) with the shipped handlers, the
shipped flows and a real SQLite store, in a temporary copy of the configuration.

Changes to the copy, each needed to replay identical sessions:

- ``flows/campaigns.yaml`` holds one campaign that runs at every hour of every day, so ``screen``
  makes the same decision whenever the benchmark runs (the shipped campaigns depend on the date and
  share calls at random between A and B);
- recordings go to the temporary folder (``flag`` creates the evidence folder);
- ``max_sessions`` is 2000 (the shipped config says 500, which would refuse half the calls at c=1000
  on purpose: that is the product's overload protection, not what this benchmark measures).

Logging stays as shipped (``info``: one line per call), into a file.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from bench.sessions import CAMPAIGN

PROJECT = Path(__file__).resolve().parent.parent
BENCH_CAMPAIGNS = f"""\
campaigns:
  - id: {CAMPAIGN}
    title: Benchmark campaign (every day, every hour)
    prompt: campaign_contact_day
    queues: [support, billing]
    first_after: 20s
    repeat_every: 60s
    weight: 1
    offer_compliment: true
"""


def _set_key(text: str, key: str, value: str) -> str:
    pattern = re.compile(rf"^(\s*{key}:)[^\n#]*", re.MULTILINE)
    if not pattern.search(text):
        raise RuntimeError(f"the shipped config has no '{key}:' line; bench/realstack.py needs updating")
    return pattern.sub(lambda m: f"{m.group(1)} {value}  ", text, count=1)


def prepare(root: Path) -> Path:
    """Copy the shipped configuration under ``root``; returns the config file to serve."""
    for folder in ("config", "flows"):
        shutil.copytree(PROJECT / folder, root / folder)
    (root / "audio_prompts").mkdir()
    shutil.copy(PROJECT / "audio_prompts" / "prompts.yaml", root / "audio_prompts" / "prompts.yaml")
    (root / "flows" / "campaigns.yaml").write_text(BENCH_CAMPAIGNS)
    config = root / "config" / "respectline.yaml"
    text = config.read_text()
    text = _set_key(text, "recordings", str(root / "recordings"))
    text = _set_key(text, "max_sessions", "2000")
    config.write_text(text)
    return config


def serve_argv(config: Path, store: Path) -> list[str]:
    return [sys.executable, "-m", "agi_scripts.cli.main", "serve", "--config", str(config),
            "--listen", "127.0.0.1:0", "--db", f"sqlite:///{store}"]
