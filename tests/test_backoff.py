"""The one back-off rule every retry loop uses."""

from __future__ import annotations

from rivya.backoff import Backoff


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    rule = Backoff(base=2.0, cap=10.0)
    assert [rule.delay(n) for n in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_keeps_each_delay_between_its_lower_share_and_the_whole() -> None:
    rule = Backoff(base=0.5, cap=8.0, jitter=0.5)
    assert rule.delay(2, rand=0.0) == 1.0
    assert rule.delay(2, rand=0.999) < 2.0
    assert all(1.0 <= rule.delay(2) < 2.0 for _ in range(200))
