"""Garbage-collector settings for a long-running process that analyzes on every keystroke.

Each analysis of a 200-node flow allocates tens of thousands of small objects, almost all
freed by reference counting. With CPython's default thresholds the cyclic collector still
runs a full (generation 2) pass every few analyses, walking every long-lived object —
imported modules, tokenizer tables, cached documents — and turning a 20 ms analysis into
60-100 ms now and then (see benchmarks/check_speed.py). The language server should call
`tune_for_interactive_use()` once, after start-up imports: it moves what exists then out of
the collector's sight (`gc.freeze`) and makes collections rarer. The CLI does not need it.
"""

from __future__ import annotations

import gc

INTERACTIVE_THRESHOLDS = (50_000, 50, 100)


def tune_for_interactive_use() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*INTERACTIVE_THRESHOLDS)
