"""Hypothesis over the analysis itself (in process): any flow, prompty, template, settings or
evaluation file built from hostile pieces gives problems, never an internal error (PW000),
never work past a bound, never a file created by template code."""

from __future__ import annotations

import contextlib
import resource
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import build_project
from promptwise.analysis import analyze
from strategies import (
    MARKER, eval_files, flows, mutated, prompties, settings_files, templates, wellformed_flows,
    wellformed_prompties,
)

# Far above what any of these files needs (milliseconds); catches a hang, not slowness.
EXAMPLE_BOUND_SECONDS = 30
PEAK_MEMORY_BOUND = 2 * 1024**3  # bytes; the defects seen reached 1.2-4.6 GB in 20-30 s

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


class WorkPastBound(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: int = EXAMPLE_BOUND_SECONDS):
    def stop(signum, frame):
        raise WorkPastBound(f"analysis still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def project(tmp_path: Path, watched: Path) -> Path:
    return build_project(tmp_path / "project", {}, watched)


def _check(project: Path, watched: Path, name: str, text: str, from_disk: bool, template: str = "") -> None:
    path = project / name
    text = text.replace(MARKER, str(watched / "created-by-template"))
    (project / "t.jinja2").write_text(template.replace(MARKER, str(watched / "created-by-template")), encoding="utf-8")
    if from_disk:
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    with bounded():
        problems = analyze(path) if from_disk else analyze(path, text)
    internal = [p for p in problems if p.code == "PW000"]
    assert internal == [], internal[0].message
    assert list(watched.iterdir()) == []


FILES = st.one_of(
    st.tuples(st.just("flow.dag.yaml"), st.one_of(wellformed_flows(), flows())),
    st.tuples(st.just("p.prompty"), st.one_of(wellformed_prompties(), prompties())),
    st.tuples(st.just("ask.jinja2"), templates()),
    st.tuples(st.just("promptwise.yaml"), settings_files()),
    st.tuples(st.just("eval.yaml"), eval_files()),
)


@FUZZ
@given(file=FILES, from_disk=st.booleans(), template=templates())
def test_hostile_files_give_problems_not_internal_errors(project, watched, file, from_disk, template):
    name, text = file
    _check(project, watched, name, text, from_disk, template)


ORDINARY_FLOW = (Path(__file__).parents[1] / "lsp" / "workspaces" / "triage" / "flow.dag.yaml").read_text()
ORDINARY_PROMPTY = (Path(__file__).parents[1] / "lsp" / "workspaces" / "triage" / "answer.prompty").read_text()


@FUZZ
@given(file=st.one_of(st.tuples(st.just("flow.dag.yaml"), mutated(ORDINARY_FLOW)),
                      st.tuples(st.just("p.prompty"), mutated(ORDINARY_PROMPTY))))
def test_damaged_real_files_give_problems_not_internal_errors(project, watched, file):
    name, text = file
    _check(project, watched, name, text, from_disk=False)


def test_peak_memory_of_the_fuzzed_analysis_stays_bounded():
    # runs after the fuzz tests above in this module (pytest keeps file order)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert peak < PEAK_MEMORY_BOUND
