"""The small "capitals" projects the end-to-end evaluation tests write: four questions, a
flow answering them through the fake server, and the same as one prompty. (A uniquely named
module: tests folders are not packages.)"""

from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = "system:\nAnswer with the city only.\nuser:\n{{question}}\n"
DATA = [
    {"question": "What is the capital of France?", "expected": "Paris"},
    {"question": "What is the capital of Italy?", "expected": "Rome"},
    {"question": "What is the capital of Spain?", "expected": "Madrid"},
    {"question": "What is the capital of Japan?", "expected": "Tokyo"},
]
PROMPTY = ("---\nname: City\nmodel:\n  api: chat\n  configuration: {type: openai, model: gpt-4o-mini, connection: fake}\n"
           "inputs:\n  question: {type: string}\n---\nsystem:\nAnswer with the city only.\nuser:\n{{question}}\n")


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def write_capitals_flow(workspace_dir: Path, flow: str, eval_yaml: str) -> Path:
    """capitals/: the flow, its answer.jinja2 template, data.jsonl (DATA) and eval.yaml."""
    folder = workspace_dir / "capitals"
    folder.mkdir()
    (folder / "flow.dag.yaml").write_text(flow, encoding="utf-8")
    (folder / "answer.jinja2").write_text(TEMPLATE, encoding="utf-8")
    (folder / "data.jsonl").write_text(jsonl(DATA), encoding="utf-8")
    (folder / "eval.yaml").write_text(eval_yaml, encoding="utf-8")
    return folder


def write_city_prompty(workspace_dir: Path) -> Path:
    """city/: city.prompty (PROMPTY) and data.jsonl (DATA), no eval.yaml."""
    folder = workspace_dir / "city"
    folder.mkdir()
    (folder / "city.prompty").write_text(PROMPTY, encoding="utf-8")
    (folder / "data.jsonl").write_text(jsonl(DATA), encoding="utf-8")
    return folder
