"""A workspace with three packaged versions of one flow whose prompts differ (ALPHA, BETA,
GAMMA), so the fake model's echo says which version answered."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # serving_process: the real server helper

from promptwise.cli import main  # noqa: E402
from promptwise.devtools.fake_openai import FakeOpenAI  # noqa: E402
from serving_process import write_workspace  # noqa: E402

FLOW = {
    "triage/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {type: string, reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: local
          api: chat
    """,
}
WORDS = {"triage:v1": "ALPHA", "triage:v2": "BETA", "triage:v3": "GAMMA"}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def package_versions(root: Path) -> None:
    """triage:v1..v3, each answering with its word; the working copy is left at v3."""
    for version, word in WORDS.items():
        (root / "triage" / "chat.jinja2").write_text(f"user:\n{word} {{{{question}}}}\n", encoding="utf-8")
        assert main(["package", str(root / "triage"), "--format", "json"]) == 0


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("rollouts"), fake.base_url, FLOW)
    (root / ".git").mkdir()  # the workspace's boundary
    package_versions(root)
    return root


def state(root: Path) -> dict | None:
    path = root / ".promptwise" / "rollouts" / "triage.json"
    return json.loads(path.read_text())["current"] if path.exists() else None
