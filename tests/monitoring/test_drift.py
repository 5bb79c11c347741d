"""Drift statistics from their formulas, and drift flagged on shifted traffic only."""

from __future__ import annotations

import json
import math
import random

import pytest

from promptwise.cli import main
from promptwise.monitoring import drift
from promptwise.monitoring.drift import (compare_inputs, compare_outputs, ks_p_value, ks_statistic, psi,
                                         psi_categorical, script_of)


def test_ks_statistic_matches_a_hand_computed_example():
    # F_a steps by 1/5 at 1..5, F_b by 1/6 at 3..8. At x=5: F_a = 5/5, F_b = 3/6 -> D = 0.5,
    # the largest gap (x=2: 0.4, x=3: 0.6-1/6, x=4: 0.8-2/6, x=6: 1-4/6).
    assert ks_statistic([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]) == pytest.approx(0.5)
    # Asymptotic p: ne = 30/11, l = (sqrt(ne) + 0.12 + 0.11/sqrt(ne)) * 0.5, Q = 2 sum (-1)^(j-1) e^(-2 j^2 l^2)
    root = math.sqrt(30 / 11)
    lam = (root + 0.12 + 0.11 / root) * 0.5
    expected = 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 50))
    assert ks_p_value(0.5, 5, 6) == pytest.approx(expected) and 0.36 < expected < 0.37
    assert ks_statistic([1, 1, 2], [1, 1, 2]) == 0.0  # ties are stepped over together
    assert ks_statistic([1, 2], [3, 4]) == 1.0


def test_psi_matches_the_formula_and_is_zero_without_change():
    # shares 0.5/0.5 -> 0.7/0.3: (0.2 ln 1.4) + (-0.2 ln 0.6)
    assert psi([50, 50], [70, 30]) == pytest.approx(0.2 * math.log(1.4) - 0.2 * math.log(0.6))
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi_categorical(["a"] * 50 + ["b"] * 50, ["a"] * 50 + ["b"] * 50) == pytest.approx(0.0)


def test_scripts():
    assert [script_of(t) for t in ("Disk full on host", "Диск переполнен", "磁盘已满", "12345")] == \
        ["latin", "cyrillic", "cjk", "none"]


def _logs(rng: random.Random, n: int, words: tuple[int, int], system=("billing", "claims", "portal"),
          weights=(1, 1, 1), cyrillic: float = 0.0) -> list[dict]:
    vocabulary = ["timeout", "policy", "ledger", "retry", "failed", "upstream", "ERROR", "claim", "mismatch"]
    rows = []
    for _ in range(n):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(*words)))
        if rng.random() < cyrillic:
            text = "Ошибка при обработке платежа " * 3
        rows.append({"log_text": text, "system_name": rng.choices(system, weights)[0]})
    return rows


def _count(text: str) -> int:  # whitespace tokens keep these tests independent of the tokenizer
    return len(text.split())


def test_unshifted_traffic_raises_nothing_and_shifted_traffic_is_flagged():
    rng = random.Random(5)
    baseline = _logs(rng, 400, (10, 40))
    same = compare_inputs(baseline, _logs(rng, 400, (10, 40)), count_tokens=_count)
    assert {check.level for check in same} == {"ok"}, [(c.feature, c.score) for c in same]
    longer = compare_inputs(baseline, _logs(rng, 400, (40, 90)), count_tokens=_count)
    levels = {check.feature: check.level for check in longer}
    assert levels["input log_text: length in tokens"] == "alert"
    assert levels["input system_name: categories"] == "ok"
    skewed = compare_inputs(baseline, _logs(rng, 400, (10, 40), weights=(8, 1, 1), cyrillic=0.3),
                            count_tokens=_count)
    levels = {check.feature: check.level for check in skewed}
    assert levels["input system_name: categories"] == "alert"
    assert levels["input log_text: script"] in ("warn", "alert")


def test_too_few_values_say_so_instead_of_guessing():
    rng = random.Random(1)
    [length, script] = [c for c in compare_inputs(_logs(rng, 10, (1, 5)), _logs(rng, 10, (50, 60)),
                                                  count_tokens=_count) if "log_text" in c.feature]
    assert length.level == script.level == "too few" and length.score is None


def test_output_categories_new_proposals_empty_answers_and_refusals():
    rng = random.Random(3)
    before = [{"category": rng.choice(["infra", "data_quality", "integration"]), "summary": "Fixed."}
              for _ in range(300)]
    same = [{"category": rng.choice(["infra", "data_quality", "integration"]), "summary": "Fixed."}
            for _ in range(300)]
    assert {c.level for c in compare_outputs(before, same)} == {"ok"}
    shifted = [{"category": "new" if i % 3 == 0 else "infra",
                "summary": "" if i % 5 == 0 else "I'm sorry, but I can't help with that." if i % 7 == 0 else "Ok."}
               for i in range(300)]
    levels = {c.feature: c.level for c in compare_outputs(before, shifted)}
    assert levels["output category: categories"] == "alert"
    assert levels["output summary: empty/refusal share"] == "alert"


def test_monitor_drift_against_the_eval_data(request_spans, workspace, capsys):
    root, write = workspace
    flow = root / "triage"
    flow.mkdir()
    (flow / "flow.dag.yaml").write_text("inputs: {system_name: {type: string}}\noutputs: {}\nnodes: []\n")
    (flow / "eval.yaml").write_text("data: data.jsonl\nevaluators:\n  - {name: n, type: latency}\n")
    rng = random.Random(2)
    rows = [{"system_name": rng.choice(["billing", "claims"]), "expected": "x"} for _ in range(200)]
    (flow / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write([request_spans(flow="triage", inputs={"system_name": "portal" if i % 2 else "billing"},
                         outputs={"category": "infra"}) for i in range(100)])
    assert main(["monitor", str(flow), "--workspace", str(root), "--drift", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)["drift"]
    assert document["level"] == "alert" and document["score"] > drift.PSI_ALERT
    assert document["baseline"].endswith("data.jsonl")
    [check] = document["checks"]
    assert check["feature"] == "input system_name: categories" and check["current_n"] == 100
    (flow / "eval.yaml").unlink()
    assert main(["monitor", str(flow), "--workspace", str(root), "--drift"]) != 0
    assert "eval.yaml" in capsys.readouterr().err
