"""LLM judges through the real openai client, the engine's providers and the fake server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from promptwise.engine.providers import RetryPolicy
from promptwise.evaluation.base import EvaluatorConfigError
from promptwise.evaluation.judge_transport import EngineJudgeTransport
from promptwise.evaluation.judges import JUDGES, JUDGES_DIR, Fluency, Groundedness, Similarity, load_judge_prompt

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=5)


@pytest.fixture
async def transport(workspace):
    transport = EngineJudgeTransport(workspace, retry=FAST_RETRY)
    yield transport
    await transport.aclose()


@pytest.mark.parametrize("judge", JUDGES, ids=lambda j: j.kind)
def test_every_judge_prompt_ships_and_renders(judge):
    prompt = load_judge_prompt(JUDGES_DIR / judge.prompt_file)
    assert set(judge.required_inputs) <= set(prompt.input_names)
    evaluator = judge(judge.kind)
    messages = evaluator.messages_for({name: f"<{name} text>" for name in judge.required_inputs})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert '"score"' in messages[0]["content"]
    for name in judge.required_inputs:
        assert f"<{name} text>" in messages[1]["content"]


async def test_groundedness_reads_score_and_counts_cost(fake_server, transport):
    fake_server.add_rule(r"CONTEXT:", json.dumps({"score": 4, "reason": "One figure is not in the context."}))
    judge = Groundedness("grounded", transport=transport)
    score = await judge.ascore({"response": "The ratio was 94.1%.", "context": "Ratio 94.1% in 2023."})
    assert score.value == 4.0 and score.passed is True and score.error is None
    assert score.reason == "One figure is not in the context."
    assert score.tokens > 0 and score.cost > 0  # gpt-4o-mini is priced in the catalog
    request = fake_server.requests[-1].body
    assert request["model"] == "gpt-4o-mini" and request["temperature"] == 0
    assert "Ratio 94.1% in 2023." in request["messages"][-1]["content"]


async def test_malformed_answer_is_a_recorded_failure_not_a_zero(fake_server, transport):
    fake_server.add_rule(None, "I think the response is quite good overall.")
    score = await Fluency("fluency", transport=transport).ascore({"response": "Fine text."})
    assert score.value is None and score.passed is None
    assert "unreadable judge answer" in score.error
    assert score.details["raw"] == "I think the response is quite good overall."


async def test_rate_limits_are_retried_by_the_engine(fake_server, transport):
    fake_server.add_rule(None, '{"score": 5, "reason": "Fluent."}')
    fake_server.inject("rate_limit", count=2, retry_after=0.01)
    score = await Fluency("fluency", transport=transport).ascore({"response": "Fine text."})
    assert score.value == 5.0
    assert fake_server.stats.requests == 3


async def test_call_that_fails_for_good_is_recorded(fake_server, transport):
    fake_server.inject("server_error", count=None)
    score = await Fluency("fluency", transport=transport).ascore({"response": "Fine text."})
    assert score.value is None and "judge call failed" in score.error and "500" in score.error


async def test_repeat_reports_mean_and_spread(fake_server, transport):
    answers = iter(['{"score": 3, "reason": "a"}', '{"score": 5, "reason": "b"}', '{"score": 4, "reason": "c"}'])
    seeds = []

    def reply(body):
        seeds.append(body.get("seed"))
        return next(answers)

    fake_server.add_rule(None, reply)
    score = await Similarity("sim", options={"repeat": 3}, transport=transport).ascore(
        {"response": "EUR 1.2bn", "ground_truth": "1.2 billion euros"})
    assert score.value == pytest.approx(4.0)
    assert sorted(score.details["samples"]) == [3, 4, 5]
    assert score.details["stdev"] == pytest.approx(1.0)
    assert sorted(seeds) == [0, 1, 2]  # distinct requests, so the cache cannot collapse them


async def test_repeat_keeps_good_samples_and_records_bad_ones(fake_server, transport):
    answers = iter(['{"score": 2, "reason": "a"}', "no idea", '{"score": 4, "reason": "c"}'])
    fake_server.add_rule(None, lambda body: next(answers))
    score = await Fluency("f", options={"repeat": 3}, transport=transport).ascore({"response": "x"})
    assert score.value == pytest.approx(3.0)
    assert score.details["failures"][0]["raw"] == "no idea"


async def test_cache_answers_a_repeated_judgement(fake_server, transport):
    fake_server.add_rule(None, '{"score": 4, "reason": "ok"}')
    first = await Fluency("f", transport=transport).ascore({"response": "same text"})
    second = await Fluency("f", transport=transport).ascore({"response": "same text"})
    assert first.value == second.value == 4.0
    assert fake_server.stats.requests == 1
    # The replayed answer is priced as the call it replays (evaluation cost must not depend on
    # the cache), and the score says it came from the cache.
    assert second.cost == first.cost > 0
    assert second.details["cached_calls"] == 1 and "cached_calls" not in first.details


async def test_a_copied_and_adapted_prompt(tmp_path, fake_server, transport):
    copy = tmp_path / "tone.prompty"
    text = (JUDGES_DIR / "fluency.prompty").read_text(encoding="utf-8")
    copy.write_text(text.replace("RESPONSE: {{response}}", "AUDIENCE: {{audience}}\nRESPONSE: {{response}}")
                    .replace("inputs:\n  response:\n    type: string\n",
                             "inputs:\n  response:\n    type: string\n  audience:\n    type: string\n"),
                    encoding="utf-8")
    fake_server.add_rule(r"AUDIENCE: claims handlers", '{"score": 2, "reason": "too technical"}')
    judge = Fluency("tone", options={"prompty": str(copy)}, transport=transport)
    assert set(judge.required_inputs) == {"response", "audience"}
    score = await judge.ascore({"response": "x", "audience": "claims handlers"})
    assert score.value == 2.0 and score.passed is False


def test_bad_repeat_and_missing_prompt(tmp_path):
    with pytest.raises(EvaluatorConfigError, match="repeat must be"):
        Fluency("f", options={"repeat": 0})
    with pytest.raises(EvaluatorConfigError, match="cannot read the judge prompt"):
        Fluency("f", options={"prompty": str(tmp_path / "missing.prompty")})


def test_shipped_prompts_are_in_the_package():
    names = sorted(p.name for p in JUDGES_DIR.glob("*.prompty"))
    assert names == ["coherence.prompty", "fluency.prompty", "groundedness.prompty", "relevance.prompty",
                     "similarity.prompty"]


async def test_repeat_spread_in_the_aggregate(fake_server, transport):
    from promptwise.evaluation.config import parse_eval_config
    from promptwise.evaluation.registry import BuildContext
    from promptwise.evaluation.runner import EvalRow, evaluate_rows

    answers = iter(['{"score": 3, "reason": "a"}', '{"score": 5, "reason": "b"}'] + ['{"score": 4, "reason": "c"}'] * 2)
    fake_server.add_rule(None, lambda body: next(answers))
    config, problems = parse_eval_config(Path("eval.yaml"), "evaluators:\n  - {name: f, type: fluency, repeat: 2, "
                                         "inputs: {response: '${run.outputs.a}'}}\n")
    assert not problems
    rows = [EvalRow(i, {}, {"outputs": {"a": f"text {i}"}, "status": "completed"}) for i in range(2)]
    result = await evaluate_rows(config, rows, BuildContext(Path("."), judge_transport=transport), concurrency=1)
    figures = result.metrics["f"]
    assert figures["mean"] == pytest.approx(4.0)
    assert figures["judge_spread_max"] == pytest.approx(2 ** 0.5)  # stdev of (3, 5)
    assert figures["judge_spread_mean"] == pytest.approx(2 ** 0.5 / 2)


async def test_malformed_http_body_and_dropped_connection_are_retried(fake_server, transport):
    fake_server.add_rule(None, '{"score": 3, "reason": "Readable."}')
    fake_server.inject("malformed", count=1)
    fake_server.inject("drop", count=1)
    score = await Fluency("fluency", transport=transport).ascore({"response": "Fine text."})
    assert score.value == 3.0 and score.error is None
    assert fake_server.stats.requests == 3


async def test_judge_calls_reach_the_evaluation_concurrency(fake_server, workspace):
    # The engine's connection limit must follow --concurrency: a fixed default (16) there would
    # silently cap an evaluation run with more rows in flight.
    import asyncio

    from promptwise.evaluation.config import parse_eval_config
    from promptwise.evaluation.service import _build_context, _close

    eval_yaml = workspace.root / "eval.yaml"
    eval_yaml.write_text(
        "evaluators:\n  - {name: fluent, type: fluency, inputs: {response: ${run.outputs.answer}}}\n", encoding="utf-8"
    )
    config, problems = parse_eval_config(eval_yaml)
    assert not problems
    # Each answer takes long enough for all 24 calls to be under way at once even on a loaded
    # machine (at 0.3 s, a slow client start saw the first answers return before the last left).
    fake_server.add_rule(None, '{"score": 5, "reason": "Fluent."}', latency=1.5)
    context = _build_context(config, workspace, use_cache=False, judge_transport=None, retry=FAST_RETRY,
                             concurrency=24)
    try:
        judge = Fluency("fluency", transport=context.judge_transport)
        scores = await asyncio.gather(*(judge.ascore({"response": f"Text {i}."}) for i in range(24)))
    finally:
        await _close(context, None)
    assert all(score.value == 5.0 for score in scores)
    assert fake_server.stats.peak_in_flight == 24
