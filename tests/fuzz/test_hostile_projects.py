"""The hostile projects of issue 9 part 5 (hostile_projects.py) through the CLI and the
language server: `check` finishes under a memory limit with no internal error and reports the
expected problem at the right line; `estimate` too; the editor gets diagnostics for every file
and still answers afterwards."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from lsprotocol import types

from fuzz_support import CLI_ADDRESS_SPACE, assert_no_internal_error, run_cli, settle_check
from hostile_projects import PROJECTS
from lsp_support import open_document, wait_for_publish


def _write(root: Path) -> Path:
    for name, hostile in PROJECTS.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / ".git").mkdir()  # each case is its own project
        for file_name, text in hostile.files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        for link, target in hostile.links.items():
            (folder / link).symlink_to(target)
        os.mkfifo(folder / "pipe.fifo")
    return root


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def checked(hostile_root: Path):
    """One `promptwise check` over every case (a subprocess per case would cost a minute)."""
    return run_cli("check", ".", cwd=hostile_root)


def test_check_of_every_hostile_project_ends_without_internal_error(checked):
    settle_check(checked)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert children < CLI_ADDRESS_SPACE


@pytest.mark.parametrize("name", [n for n, h in PROJECTS.items() if h.expect], ids=str)
def test_check_reports_the_expected_problem_where_it_is(checked, name):
    hostile = PROJECTS[name]
    code, line = hostile.expect
    where = f"{name}/{hostile.open}:{line}:"
    assert any(where in row and code in row for row in checked.stdout.splitlines()), checked.stdout[-4000:]


@pytest.mark.parametrize("name", ["prompty-billion-laughs", "source-dev-zero", "file-fifo", "template-range-1e9",
                                  "max-tokens-5000-digits", "connection-numeric-key", "settings-billion-laughs"])
def test_estimate_of_hostile_projects_ends_without_internal_error(hostile_root, name):
    result = run_cli("estimate", PROJECTS[name].open, cwd=hostile_root / name)
    assert result.returncode in (0, 1, 2), result.stderr[-3000:]
    assert_no_internal_error(result)


@pytest.fixture
def lsp_workspace(hostile_root: Path) -> Path:
    return hostile_root


@pytest.mark.timeout(180)
async def test_the_language_server_diagnoses_every_hostile_project_and_keeps_answering(client, hostile_root):
    for name, hostile in PROJECTS.items():
        uri = open_document(client, hostile_root / name / hostile.open)
        published = await wait_for_publish(client, uri)
        assert not [d for d in published.diagnostics if d.code == "PW000"], name
        if hostile.expect:
            code, line = hostile.expect
            assert any(d.code == code and d.range.start.line == line - 1 for d in published.diagnostics), (
                name, [(d.code, d.range.start.line) for d in published.diagnostics])
    answer = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=(hostile_root / "source-fifo" / "flow.dag.yaml").as_uri()))
    )
    assert answer  # the server still works after all of them
