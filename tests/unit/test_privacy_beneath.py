"""Recordings are deleted and copied through folder handles: a link swapped in is never followed."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.privacy import retention
from agi_scripts.ground.beneath import NotBeneath, copy_out, unlink_beneath
from agi_scripts.storage import open_store


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "recordings", tmp_path / "outside"
    (root / "compliments" / "2025" / "01").mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.wav").write_bytes(b"not a recording")
    return root, outside


def test_a_folder_swapped_for_a_link_stops_the_delete_and_the_file_outside_stays(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    month = root / "compliments" / "2025" / "01"
    month.rmdir()
    month.symlink_to(outside)
    with pytest.raises(NotBeneath):
        unlink_beneath(root, month / "victim.wav")
    assert (outside / "victim.wav").exists()


def test_a_path_outside_the_folder_or_with_dots_is_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    for path in (outside / "victim.wav", root / "compliments" / ".." / ".." / "outside" / "victim.wav"):
        with pytest.raises(NotBeneath):
            unlink_beneath(root, path)
    assert (outside / "victim.wav").exists()


def test_the_retention_sweep_deletes_through_handles_when_a_folder_is_swapped_after_the_walk(
        tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = tree
    month = root / "compliments" / "2025" / "01"
    old = month / "victim.wav"
    old.write_bytes(b"RIFF")
    past = (datetime.now(timezone.utc) - timedelta(days=90)).timestamp()
    os.utime(old, (past, past))
    planned = retention.plan_purge

    def plan_then_swap(*args: object, **kwargs: object) -> list[retention.RetentionDecision]:
        decisions = planned(*args, **kwargs)  # type: ignore[arg-type]
        old.unlink()
        month.rmdir()
        month.symlink_to(outside)  # what an attacker does between the walk and the unlink
        return decisions

    monkeypatch.setattr(retention, "plan_purge", plan_then_swap)
    store = open_store(f"sqlite:///{root.parent / 's.sqlite'}")
    summary = retention.apply_retention(store, root, RetentionSettings(), now=datetime.now(timezone.utc))
    store.close()
    assert (outside / "victim.wav").read_bytes() == b"not a recording"
    assert [path for path, _why in summary.failed] == [old]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_copy_is_a_new_0600_file_and_never_goes_through_a_link_at_the_target(
        tree: tuple[Path, Path], tmp_path: Path, umask: int) -> None:
    root, outside = tree
    source = root / "compliments" / "2025" / "01" / "1700000000-21.wav"
    source.write_bytes(b"RIFF voice")
    target_dir = tmp_path / f"copies-{umask:o}"
    target_dir.mkdir()
    previous = os.umask(umask)
    try:
        copy_out(root, source, target_dir / "copy.wav")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((target_dir / "copy.wav").stat().st_mode) == 0o600
    assert (target_dir / "copy.wav").read_bytes() == b"RIFF voice"
    (target_dir / "linked.wav").symlink_to(outside / "victim.wav")
    with pytest.raises(OSError):
        copy_out(root, source, target_dir / "linked.wav")
    assert (outside / "victim.wav").read_bytes() == b"not a recording"
