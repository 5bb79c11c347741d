"""Reading judges' answers: the many shapes models answer in, and the ones we must refuse."""

from __future__ import annotations

import pytest

from promptwise.evaluation.judge_answer import JudgeAnswerError, parse_judge_answer


@pytest.mark.parametrize(
    "raw, score, reason_part",
    [
        ('{"score": 4, "reason": "Mostly supported."}', 4, "Mostly supported"),
        ('```json\n{"score": 5, "reason": "All claims supported."}\n```', 5, "All claims"),
        ('Here is my evaluation:\n{"Score": "3", "Reasoning": "Partly."}', 3, "Partly"),
        ("{'score': 2, 'reason': 'single quotes'}", 2, "single quotes"),
        ('{"rating": 4.5, "explanation": "fine"}', 4.5, "fine"),
        ('{"score": 4, "reason": "uses {braces} inside"}', 4, "braces"),
        ("Score: 4\nReason: the response is fluent.", 4, "fluent"),
        ("**Score:** 3 - some claims are unsupported", 3, ""),
        ("I would rate this 4/5 because it is clear.", 4, ""),
        ("<S0>thinking</S0><S1>clear answer</S1><S2>5</S2>", 5, ""),
        ("5", 5, ""),
        ("3. The answer is partly relevant.", 3, "partly relevant"),
    ],
)
def test_readable_answers(raw, score, reason_part):
    answer = parse_judge_answer(raw)
    assert answer.score == score
    assert reason_part in answer.reason


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("The response is good.", "no 1-5 score"),
        ('{"score": 7, "reason": "too high"}', "outside the 1-5 scale"),
        ('{"score": 0}', "outside"),
        ("Score: 2. On reflection, Score: 4.", "different scores"),
        ('{"score": "high", "reason": "x"}', "no 1-5 score"),
        ('{"score": 4, "reason": "trunc', "no 1-5 score"),
    ],
)
def test_unreadable_answers_raise_with_raw_text(raw, message):
    with pytest.raises(JudgeAnswerError, match=message) as info:
        parse_judge_answer(raw)
    assert info.value.raw == raw
