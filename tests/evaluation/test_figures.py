"""Run-level figures: percentiles as the standard library computes them, and how figures print."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptwise.evaluation.report_text import fmt_number, fmt_usd
from promptwise.evaluation.runner import percentile


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=200))
def test_percentiles_match_statistics_inclusive(values):
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 50) == pytest.approx(quantiles[49], rel=1e-9, abs=1e-9)
    assert percentile(values, 95) == pytest.approx(quantiles[94], rel=1e-9, abs=1e-9)


def test_percentile_edges():
    assert percentile([], 95) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 50) == 3.0


@pytest.mark.parametrize("value, text", [
    (0.004, "$0.0040"), (0.0023, "$0.0023"), (2.3, "$2.30"), (0.000021, "$0.000021"), (0, "$0.00"), (None, "–")])
def test_fmt_usd(value, text):
    assert fmt_usd(value) == text


@pytest.mark.parametrize("value, text", [(0.75, "0.75"), (4.0, "4"), (1, "1"), (0.0001234, "1.23e-04"), (None, "–")])
def test_fmt_number(value, text):
    assert fmt_number(value) == text
