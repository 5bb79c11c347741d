"""Hypothesis over the faces: `promptwise check` in a subprocess (memory-limited, time-bounded)
and the language server (open + change + diagnostics) on generated hostile projects. Each
must end with problems, never an internal error, and no template may create a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from fuzz_support import build_project, run_cli, settle_check
from lsp_support import open_document, replace_text, wait_for_publish
from strategies import (
    MARKER, eval_files, flows, mutated, prompties, settings_files, templates, wellformed_flows, wellformed_prompties,
)

PROJECTS = st.fixed_dictionaries({
    "flow.dag.yaml": st.one_of(wellformed_flows(), flows()),
    "p.prompty": st.one_of(wellformed_prompties(), prompties()),
    "t.jinja2": templates(),
    "promptwise.yaml": settings_files(),
    "eval.yaml": eval_files(),
})


@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=PROJECTS)
def test_check_of_generated_projects(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzz-cli")
    watched = root / "watched"
    watched.mkdir()
    project = build_project(root / "project", files, watched)
    settle_check(run_cli("check", ".", cwd=project))
    assert list(watched.iterdir()) == []


def _collect(strategy, count: int) -> list:
    """`count` examples of a strategy, drawn by Hypothesis (an async language-server session
    cannot be a Hypothesis test body, so the examples are drawn first, then replayed)."""
    found: list = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(example):
        found.append(example)

    draw()
    return found


ORDINARY = (Path(__file__).parents[1] / "lsp" / "workspaces" / "triage" / "flow.dag.yaml").read_text()
EDITS = _collect(st.one_of(
    st.tuples(st.just("flow.dag.yaml"), st.one_of(wellformed_flows(), flows(), mutated(ORDINARY))),
    st.tuples(st.just("p.prompty"), st.one_of(wellformed_prompties(), prompties())),
    st.tuples(st.just("t.jinja2"), templates()),
    st.tuples(st.just("promptwise.yaml"), settings_files()),
), 30)


@pytest.fixture
def lsp_workspace(tmp_path: Path, watched: Path) -> Path:
    return build_project(tmp_path / "project", {"flow.dag.yaml": ORDINARY, "t.jinja2": "system:\nhi\n"}, watched)


@pytest.mark.timeout(180)
async def test_editing_generated_files_in_the_language_server(client, lsp_workspace, watched):
    uris: dict[str, tuple[str, int]] = {}
    for name, text in EDITS:
        text = text.replace(MARKER, str(watched / "created-by-template"))
        path = lsp_workspace / name
        if name not in uris:
            uris[name] = (open_document(client, path, text), 1)
        else:
            uri, version = uris[name]
            uris[name] = (uri, version + 1)
            replace_text(client, uri, text, version + 1)
        uri, version = uris[name]
        published = await wait_for_publish(client, uri, version=version)
        assert not [d.message for d in published.diagnostics if d.code == "PW000"]
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uris["flow.dag.yaml"][0]))
    )
    assert symbols is not None  # still answering
    assert list(watched.iterdir()) == []
