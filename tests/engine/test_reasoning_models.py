"""OpenAI's reasoning models (o-series, gpt-5) refuse `max_tokens` and, for most of them, non-default
sampling parameters (engine/model_parameters.py). A flow written for gpt-4o-mini, run with o4-mini
(`eval --models`), must not fail on every row. Real openai client, fake server answering o-series
and gpt-5 names as OpenAI does (`reasoning_models=OPENAI_REASONING_MODELS`)."""

from __future__ import annotations

import json
import logging

import pytest

from promptwise.cli import main
from promptwise.devtools.fake_openai import OPENAI_REASONING_MODELS, REASONING_TOKENS, FakeOpenAI, count_tokens
from promptwise.engine import model_parameters
from promptwise.engine.connections import resolve_spec
from promptwise.engine.providers import Provider, ProviderError, RetryPolicy
from promptwise.store import RunStore

from engine_flows import write_files

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=5)
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def forget_refusals():
    """What a model refused is remembered for the process: each test starts afresh."""
    model_parameters.forget()
    yield
    model_parameters.forget()


@pytest.fixture
def reasoning_server():
    with FakeOpenAI(reasoning_models=OPENAI_REASONING_MODELS) as server:
        yield server


def provider_for(server: FakeOpenAI, azure: bool = False) -> Provider:
    if azure:
        spec = {"type": "azure_openai", "azure_endpoint": server.azure_endpoint, "api_key": "${env:K}",
                "api_version": "2024-12-01-preview"}
    else:
        spec = {"type": "openai_compatible", "base_url": server.base_url}
    return Provider(resolve_spec("local", spec, "promptwise.yaml", {"K": "k-azure-1234"}), FAST)


def sent(server: FakeOpenAI) -> list[dict]:
    """The parameters of each chat request, without model and messages."""
    return [{k: v for k, v in r.body.items() if k not in ("model", "messages")} for r in server.requests]


async def test_catalog_reasoning_model_gets_max_completion_tokens_from_the_first_call(reasoning_server):
    provider = provider_for(reasoning_server)
    first = await provider.chat("o4-mini", HI, {"max_tokens": 100}, reasoning=True)
    second = await provider.chat("o4-mini", HI, {"max_tokens": 100}, reasoning=True)  # straight through aiohttp
    await provider.aclose()
    assert first.text == second.text == "echo: hi"
    # The SDK's request and the replayed one carry the same parameters: never a refused call.
    assert sent(reasoning_server) == [{"max_completion_tokens": 100}] * 2
    assert first.usage.completion_tokens == REASONING_TOKENS + count_tokens("echo: hi")  # thinking is billed


async def test_explicit_max_completion_tokens_wins_over_max_tokens(reasoning_server):
    provider = provider_for(reasoning_server)
    await provider.chat("o3", HI, {"max_tokens": 50, "max_completion_tokens": 400}, reasoning=True)
    await provider.aclose()
    assert sent(reasoning_server) == [{"max_completion_tokens": 400}]


async def test_unknown_model_refusing_max_tokens_is_asked_again_and_remembered(reasoning_server, caplog):
    """A name the catalog does not know (an Azure deployment, a gateway alias): the endpoint's 400
    naming `max_tokens` makes the call go again with max_completion_tokens; later calls of the model
    (direct or through the SDK, other providers too) send it from the start."""
    provider = provider_for(reasoning_server)
    with caplog.at_level(logging.WARNING, logger="promptwise.engine.model_parameters"):
        results = [await provider.chat("o4-mini-prod", HI, {"max_tokens": 100}) for _ in range(3)]
        other = provider_for(reasoning_server)
        results.append(await other.chat("o4-mini-prod", HI, {"max_tokens": 100}))
    await provider.aclose()
    await other.aclose()
    assert [r.text for r in results] == ["echo: hi"] * 4
    assert [("max_tokens" in p, "max_completion_tokens" in p) for p in sent(reasoning_server)] == \
        [(True, False)] + [(False, True)] * 4
    assert len(caplog.records) == 1
    assert "o4-mini-prod" in caplog.records[0].getMessage()


async def test_azure_deployment_refusing_max_tokens_is_asked_again(reasoning_server):
    provider = provider_for(reasoning_server, azure=True)
    results = [await provider.chat("gpt-5-mini", HI, {"max_tokens": 100, "seed": 3}) for _ in range(2)]
    await provider.aclose()
    assert [r.text for r in results] == ["echo: hi"] * 2
    assert [r.path for r in reasoning_server.requests] == ["/openai/deployments/gpt-5-mini/chat/completions"] * 3
    assert sent(reasoning_server) == [{"max_tokens": 100, "seed": 3}] + [{"max_completion_tokens": 100, "seed": 3}] * 2


async def test_refused_sampling_parameter_is_dropped_with_a_warning(reasoning_server, caplog):
    provider = provider_for(reasoning_server)
    params = {"max_tokens": 100, "temperature": 0, "top_p": 0.5, "seed": 1}
    with caplog.at_level(logging.WARNING, logger="promptwise.engine.model_parameters"):
        first = await provider.chat("o3", HI, params, reasoning=True)
        second = await provider.chat("o3", HI, params, reasoning=True)
    await provider.aclose()
    assert first.text == second.text == "echo: hi"
    assert sent(reasoning_server) == [
        {"max_completion_tokens": 100, "temperature": 0, "top_p": 0.5, "seed": 1},  # refused: temperature
        {"max_completion_tokens": 100, "top_p": 0.5, "seed": 1},  # refused: top_p
        {"max_completion_tokens": 100, "seed": 1},
        {"max_completion_tokens": 100, "seed": 1},  # the second call is sent adapted at once
    ]
    warned = sorted(record.getMessage().split("`")[1] for record in caplog.records)
    assert warned == ["temperature", "top_p"]


async def test_sampling_parameters_are_kept_where_the_model_takes_them(reasoning_server):
    """Never dropped on a guess: gpt-5.2 with reasoning_effort none takes temperature, and so does
    gpt-4o-mini; only an endpoint's refusal drops one."""
    provider = provider_for(reasoning_server)
    await provider.chat("gpt-5.2", HI, {"temperature": 0, "reasoning_effort": "none"}, reasoning=True)
    await provider.chat("gpt-4o-mini", HI, {"temperature": 0, "max_tokens": 10})
    await provider.aclose()
    assert sent(reasoning_server) == [{"temperature": 0, "reasoning_effort": "none"},
                                      {"temperature": 0, "max_tokens": 10}]


async def test_other_bad_requests_are_not_asked_again(reasoning_server):
    provider = provider_for(reasoning_server)
    reasoning_server.inject("server_error", status=400)  # a 400 that names no parameter
    with pytest.raises(ProviderError) as raised:
        await provider.chat("o4-mini-prod", HI, {"max_tokens": 100})
    await provider.aclose()
    assert raised.value.kind == "bad_request" and raised.value.refused is None
    assert len(reasoning_server.requests) == 1


async def test_streamed_call_adapts_too(reasoning_server):
    provider = provider_for(reasoning_server)
    pieces: list[str] = []
    result = await provider.chat("o4-mini-prod", [{"role": "user", "content": "one two"}], {"max_tokens": 100},
                                 on_delta=pieces.append)
    await provider.aclose()
    assert result.text == "echo: one two" == "".join(pieces)
    assert [("max_tokens" in p, "max_completion_tokens" in p) for p in sent(reasoning_server)] == \
        [(True, False), (False, True)]


CLASSIFIER = {
    "triage/flow.dag.yaml": """
        inputs:
          line: {type: string}
        outputs:
          label: {reference: "${classify.output}"}
        nodes:
        - name: classify
          type: llm
          source: {type: code, path: classify.jinja2}
          inputs: {model: gpt-4o-mini, line: "${inputs.line}", max_tokens: 100, temperature: 0}
          api: chat
    """,
    "triage/classify.jinja2": "system:\nAnswer error or info.\nuser:\n{{line}}\n",
    "triage/data.jsonl": "".join(json.dumps(row) + "\n" for row in (
        {"line": "disk failed", "expected": "error"}, {"line": "user logged in", "expected": "info"},
        {"line": "kernel panic", "expected": "error"})),
    "triage/eval.yaml": """
        data: data.jsonl
        evaluators:
          - name: correct
            type: exact_match
            inputs: {prediction: "${run.outputs.label}", reference: "${data.expected}"}
    """,
}


@pytest.fixture
def classifier(tmp_path, reasoning_server, monkeypatch):
    write_files(tmp_path, {**CLASSIFIER, "promptwise.yaml": f"""
        defaults: {{connection: local, model: gpt-4o-mini}}
        connections:
          local: {{type: openai_compatible, base_url: '{reasoning_server.base_url}'}}
    """})
    for pattern, label in ((r"disk|panic", "error"), (r"logged", "info")):
        reasoning_server.add_rule(pattern, label)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "triage"


def test_eval_models_runs_a_max_tokens_flow_on_reasoning_models(classifier, reasoning_server, capsys, caplog):
    """The QA case: the classifier (max_tokens, temperature 0) compared on gpt-4o-mini, o4-mini and
    gpt-5-mini; every o4-mini / gpt-5-mini row failed with a 400 before."""
    assert main(["eval", str(classifier), "--models", "gpt-4o-mini,o4-mini,gpt-5-mini", "--format", "json",
                 "--no-cache"]) == 0
    out = capsys.readouterr()
    by_model = {m["model"]: m for m in json.loads(out.out)["models"]}
    assert {m: (r["rows_failed"], r["primary"]) for m, r in by_model.items()} == \
        {"gpt-4o-mini": (0, 1.0), "o4-mini": (0, 1.0), "gpt-5-mini": (0, 1.0)}
    by_name: dict[str, list[dict]] = {}
    for request in reasoning_server.requests:
        by_name.setdefault(request.body["model"], []).append(request.body)
    assert all(b["max_tokens"] == 100 and b["temperature"] == 0 for b in by_name["gpt-4o-mini"])
    # The catalog knows both as reasoning models: max_tokens never sent; temperature 0 refused once
    # per model (the first rows set out together, so each of them may meet the refusal), then left out.
    for name in ("o4-mini", "gpt-5-mini"):
        bodies = by_name[name]
        assert all("max_tokens" not in b and b["max_completion_tokens"] == 100 for b in bodies)
        assert "temperature" not in bodies[-1] and len(bodies) <= 2 * 3
    warned = sorted(r.getMessage().split()[1] for r in caplog.records if "refused `temperature`" in r.getMessage())
    assert warned == ["gpt-5-mini", "o4-mini"]  # once per model
    # Before any call, the estimate says the classifier's limit leaves the reasoning models little room.
    estimate = out.err.split("running and evaluating")[0]
    assert [line.split("also bounds ")[1].split("'")[0] for line in estimate.splitlines()
            if "max_tokens 100 also bounds" in line] == ["o4-mini", "gpt-5-mini"]


def test_reasoning_model_that_thinks_past_the_limit_fails_the_row_clearly(classifier, reasoning_server, capsys):
    """A reasoning model counts its thinking within max_completion_tokens: with a classifier's small
    limit it may return no text at all (finish_reason length). The row fails saying so, instead of
    scoring an empty answer."""
    flow = classifier / "flow.dag.yaml"
    flow.write_text(flow.read_text().replace("max_tokens: 100", f"max_tokens: {REASONING_TOKENS}")
                    .replace("gpt-4o-mini", "o4-mini").replace(", temperature: 0", ""))
    assert main(["run", str(flow), "--inputs", "line=disk failed", "--no-cache"]) != 0
    err = capsys.readouterr().err
    assert f"max_completion_tokens ({REASONING_TOKENS})" in err and "reasoning" in err
    # The call was billed: its tokens and cost stay with the failed row.
    with RunStore(classifier.parent / ".promptwise", readonly=True) as store:
        [run] = store.list_runs()
    assert (run.rows_failed, run.completion_tokens) == (1, REASONING_TOKENS) and run.cost > 0


def test_eval_models_estimate_reads_the_output_of_earlier_runs(classifier, capsys):
    """Before: "expected -" for every substituted model, whatever runs were stored. Now the output
    lengths of the flow's earlier runs price the other models, and the estimate says whose runs."""
    assert main(["batch", str(classifier), "--data", str(classifier / "data.jsonl"), "--no-cache"]) == 0
    capsys.readouterr()
    assert main(["eval", str(classifier), "--models", "gpt-4.1-mini,gpt-4o-mini", "--no-cache"]) == 0
    estimate = capsys.readouterr().out.split("running and evaluating")[0]
    lines = {line.split()[0]: line for line in estimate.splitlines() if "expected" in line}
    assert "(output as in the runs with gpt-4o-mini)" in lines["gpt-4.1-mini"]
    assert "expected $" in lines["gpt-4o-mini"] and "output as in" not in lines["gpt-4o-mini"]


@pytest.mark.parametrize("limit, answered", [(100, True), (REASONING_TOKENS, False)])
def test_prompty_on_a_reasoning_model(tmp_path, reasoning_server, monkeypatch, capsys, limit, answered):
    """The same for a .prompty's `parameters: {max_tokens}`: sent as max_completion_tokens; a limit
    spent thinking fails the row with its billed tokens kept."""
    write_files(tmp_path, {
        "promptwise.yaml": f"""
            connections:
              local: {{type: openai_compatible, base_url: '{reasoning_server.base_url}'}}
        """,
        "ask.prompty": f"""
            ---
            name: Ask
            model:
              api: chat
              configuration: {{type: openai, model: gpt-5-nano, connection: local}}
              parameters: {{max_tokens: {limit}}}
            inputs:
              question: {{type: string, default: why}}
            ---
            user:
            {{{{question}}}}
        """})
    monkeypatch.chdir(tmp_path)
    assert (main(["run", "ask.prompty", "--no-cache"]) == 0) is answered
    out = capsys.readouterr()
    assert ("echo: why" in out.out) is answered
    assert all(r.body.get("max_completion_tokens") == limit and "max_tokens" not in r.body
               for r in reasoning_server.requests)
    with RunStore(tmp_path / ".promptwise", readonly=True) as store:
        [run] = store.list_runs()
    assert run.completion_tokens >= REASONING_TOKENS


def test_the_fake_answers_reasoning_names_as_openai_does(reasoning_server):
    """The fake itself, through the openai client: the error object names the refused parameter
    (what the engine reads), thinking is billed within max_completion_tokens, gpt-5-chat-latest and
    other names are plain chat models."""
    import openai

    client = openai.OpenAI(base_url=reasoning_server.base_url, api_key="unused", max_retries=0)
    refusals = {}
    for params in ({"max_tokens": 10}, {"temperature": 0.5}, {"top_p": 0.9}):
        with pytest.raises(openai.BadRequestError) as raised:
            client.chat.completions.create(model="o4-mini", messages=HI, **params)
        refusals[next(iter(params))] = (raised.value.body["param"], raised.value.body["code"])
    assert refusals == {"max_tokens": ("max_tokens", "unsupported_parameter"),
                        "temperature": ("temperature", "unsupported_value"), "top_p": ("top_p", "unsupported_value")}
    answer = client.chat.completions.create(model="gpt-5", messages=HI, max_completion_tokens=100, temperature=1)
    assert answer.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    cut = client.chat.completions.create(model="gpt-5", messages=HI, max_completion_tokens=5)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason, cut.usage.completion_tokens) == ("", "length", 5)
    for plain in ("gpt-5-chat-latest", "gpt-4o-mini"):
        reply = client.chat.completions.create(model=plain, messages=HI, max_tokens=10, temperature=0)
        assert reply.choices[0].message.content == "echo: hi"
