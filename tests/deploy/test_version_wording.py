"""Small wording fixes found walking the operate lifecycle: `versions show` counts "1 row",
and `traces show` describes the ids as `traces list` prints them (12 digits, a prefix)."""

from __future__ import annotations

from promptwise.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code or 0, out, err


def test_versions_show_counts_one_row_as_one_row(workspace, capsys):
    (workspace / "one.jsonl").write_text('{"question": "What is the capital of France?"}\n', encoding="utf-8")
    assert run(capsys, "batch", "triage", "--data", "one.jsonl")[0] == 0
    assert run(capsys, "package", "triage")[0] == 0
    code, out, _ = run(capsys, "versions", "show", "triage:v1")
    assert code == 0 and "1 row completed, 0 failed" in out and "1 rows" not in out


def test_traces_show_explains_ids_as_the_list_prints_them(workspace, capsys):
    (workspace / "one.jsonl").write_text('{"question": "What is the capital of France?"}\n', encoding="utf-8")
    assert run(capsys, "batch", "triage", "--data", "one.jsonl")[0] == 0
    code, _, err = run(capsys, "traces", "show", "not-an-id")
    assert code == 2 and "the first 12 of 32" in err and "prefix of at least 6" in err
