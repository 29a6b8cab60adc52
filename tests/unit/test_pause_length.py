"""A pause's length as a case timeline and a mail show it."""

from __future__ import annotations

import pytest

from agi_scripts.flows.abuse_policy import length_text


@pytest.mark.parametrize(("seconds", "text"), [
    (40, "40 s"), (60, "1 min"), (90, "1 min 30 s"), (900, "15 min"), (3600, "1 h"), (3900, "1 h 5 min"), (0, "0 s")])
def test_a_pause_length_reads_as_people_say_it_so_a_short_pause_is_not_0_min(seconds: float, text: str) -> None:
    assert length_text(seconds) == text
