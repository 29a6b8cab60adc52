"""Before an evidence recording starts: the folder, the path and the room on the share are checked,
because Asterisk's MixMonitor would report its failure only in Asterisk's own log."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from agi_scripts.handlers import recordings
from agi_scripts.handlers.recordings import MIN_FREE_BYTES, evidence_room_problem


def test_a_free_path_on_a_share_with_room_is_fine_and_its_folder_is_made(tmp_path: Path) -> None:
    file = tmp_path / "evidence" / "2026" / "12" / "1700000000.1.wav"
    assert evidence_room_problem(file) is None and file.parent.is_dir()


def test_a_fifo_at_the_evidence_path_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "1700000000.1.wav"
    os.mkfifo(file)
    problem = evidence_room_problem(file)
    assert problem is not None and "not a regular file" in problem and file.name in problem


def test_a_link_at_the_evidence_path_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "1700000000.1.wav"
    file.symlink_to(tmp_path / "elsewhere.wav")
    assert "not a regular file" in (evidence_room_problem(file) or "")


def test_a_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "evidence").write_text("a file where the folder should be")
    problem = evidence_room_problem(tmp_path / "evidence" / "2026" / "x.wav")
    assert problem is not None and "cannot be created" in problem


@pytest.mark.parametrize("blocks_free, inodes_free", [(0, 100), (MIN_FREE_BYTES // 4096 - 1, 100), (1000, 0)])
def test_a_share_without_room_is_refused_in_the_words_of_the_disk_full_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks_free: int, inodes_free: int) -> None:
    def full(_path: object) -> SimpleNamespace:
        return SimpleNamespace(f_bavail=blocks_free, f_frsize=4096, f_files=1000, f_favail=inodes_free)

    monkeypatch.setattr(recordings.os, "statvfs", full)
    problem = evidence_room_problem(tmp_path / "x.wav")
    assert problem is not None and "No space left on device" in problem
