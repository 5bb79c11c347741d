"""The cost estimates kept for the editor stay bounded (issue 9 part 3): an estimate holds
the rendered prompts, so typing in a large prompt keeps a few versions of it, not one per
keystroke, and closing the document frees them."""

from __future__ import annotations

from pathlib import Path

from promptwise.costing import estimate
from promptwise.documents.load import load_document

HEAD = "---\nname: big\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    model: gpt-4o-mini\n---\n"


def test_a_few_versions_per_document_are_kept_and_closing_frees_them(tmp_path: Path):
    path = tmp_path / "big.prompty"
    other = tmp_path / "other.prompty"
    estimate.estimate_document(load_document(other, HEAD + "system:\nhello\n"))
    for version in range(10):
        body = "system:\n" + "Answer from the policy. " * 4000 + f"({version})\nuser:\n{{{{q}}}}\n"
        estimate.estimate_document(load_document(path, HEAD + body))
    assert len([key for key in estimate._cache if key[0] == str(path)]) == estimate._VERSIONS_PER_DOCUMENT
    estimate.forget_document(path)
    assert not [key for key in estimate._cache if key[0] == str(path)]
    assert [key for key in estimate._cache if key[0] == str(other)]  # other documents keep theirs
