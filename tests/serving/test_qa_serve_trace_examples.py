"""Every example flow in flows/ served as a user would serve it (`promptwise serve flows/X`, keys
from the environment, the scripted model of flows/fake-llm-rules.yaml behind it): its OpenAPI
document is valid, the first row of its own data answers 200 with the outputs the flow declares,
and the same row streamed with Accept: text/event-stream ends with the same outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess

FLOWS = Path(__file__).resolve().parents[2] / "flows"

# flow, its data file, the outputs its answer holds
EXAMPLES = [
    ("log-triage", "log-triage/data.jsonl", None),
    ("report-assistant", "report-assistant/data.jsonl", None),
    ("claim-summary.prompty", "claim-summary.data.jsonl", {"output"}),
]


@pytest.fixture(scope="module")
def scripted_model():
    rules = yaml.safe_load((FLOWS / "fake-llm-rules.yaml").read_text(encoding="utf-8"))
    with FakeOpenAI(rules=[(rule["pattern"], rule["reply"]) for rule in rules]) as server:
        yield server


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A copy of flows/: the server's logs and .promptwise/ stay out of the repository."""
    copy = tmp_path_factory.mktemp("served-examples") / "flows"
    shutil.copytree(FLOWS, copy, ignore=shutil.ignore_patterns(".promptwise", "__pycache__"))
    return copy


def _declared_outputs(flow: Path) -> set[str]:
    document = yaml.safe_load((flow / "flow.dag.yaml").read_text(encoding="utf-8"))
    return {name for name, spec in document["outputs"].items() if not (spec or {}).get("evaluation_only")}


def _events(text: str) -> dict:
    """The outputs an event stream carried, its pieces joined in order."""
    merged: dict = {}
    for line in text.splitlines():
        if line.startswith("data: "):
            for name, value in json.loads(line[6:]).items():
                merged[name] = merged[name] + value if isinstance(merged.get(name), str) else value
    return merged


@pytest.mark.parametrize("flow, data, outputs", EXAMPLES, ids=[example[0] for example in EXAMPLES])
def test_each_example_flow_serves_its_own_data(scripted_model, workspace, flow, data, outputs):
    from openapi_spec_validator import validate

    row = json.loads((workspace / data).read_text(encoding="utf-8").splitlines()[0])
    outputs = outputs or _declared_outputs(workspace / flow)
    served = ServeProcess(workspace / flow, env={"PROMPTWISE_BASE_URL": scripted_model.base_url,
                                                 "OPENAI_API_KEY": "test-key"})
    try:
        document = httpx.get(served.url + "/openapi.json", timeout=30).json()
        answer = httpx.post(served.url + "/score", json=row, timeout=120)  # extra columns (expected_*) are ignored
        streamed = httpx.post(served.url + "/score", json=row, timeout=120, headers={"Accept": "text/event-stream"})
    finally:
        served.stop()
    validate(document)
    assert answer.status_code == 200, answer.text
    # A prompty's text reply is answered as itself (a JSON string), as pf flow serve answers it; its
    # events are {"output": piece}.
    answered = {"output": answer.json()} if flow.endswith(".prompty") else answer.json()
    assert set(answered) == outputs
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert _events(streamed.text) == answered  # the scripted model answers the same row the same way
