"""Values from outside (channel variables, metric labels, config) are checked against the whole pattern:
with ``re.match`` and a ``$`` anchor, a final newline passes (``$`` also matches before it), and a value
such as ``"support\\n"`` would go on into event fields, labels or AMI headers."""

from __future__ import annotations

import pytest

from agi_scripts.ground.metrics import bounded
from agi_scripts.handlers.callinfo import campaign_id, queue_name
from agi_scripts.storage.desk import check_phone


def test_a_channel_variable_with_a_final_newline_is_not_a_queue_or_campaign() -> None:
    assert queue_name("support") == "support" and queue_name("support\n") == ""
    assert campaign_id("spring-2026") == "spring-2026" and campaign_id("spring-2026\n") is None


def test_a_metric_label_with_a_final_newline_is_other() -> None:
    assert bounded("respectline_test_whole_match", "reason", "refused") == "refused"
    assert bounded("respectline_test_whole_match", "reason", "refused\n") == "other"


def test_a_staff_phone_with_a_final_newline_is_refused() -> None:
    check_phone("PJSIP/care1")
    with pytest.raises(ValueError, match="endpoint such as"):
        check_phone("PJSIP/care1\n")
