"""Scripts that print tables (run as ``python -m benchmarks.<name>``); what they share."""

from __future__ import annotations

import statistics


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the runs (every run measures the same figures)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}
