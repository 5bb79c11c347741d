"""Reading a judge's answer robustly.

Judges are asked for `{"score": <1-5>, "reason": "..."}`, and models answer in many ways:
the JSON inside a code fence or after a preamble, single quotes, "Score: 4 - because ...",
"4/5", or `<S2>4</S2>` as in older judge prompts. Anything we cannot read with confidence —
no score, a score outside the scale, two different scores — is a `JudgeAnswerError` carrying
the raw text, which the evaluator records as a failure (never a silent zero).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass


class JudgeAnswerError(ValueError):
    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class JudgeAnswer:
    score: float
    reason: str


_SCORE_KEYS = ("score", "rating", "grade", "value")
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification")
_LABELLED = re.compile(r"\b(?:score|rating|grade)\b\s*(?:is|of|=|:)?\s*\**\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?", re.I)
_TAGGED = re.compile(r"<S2>\s*(\d+(?:\.\d+)?)\s*</S2>", re.I)
_FRACTION = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*/\s*5\b")
_BARE = re.compile(r"^\s*\**\s*(\d+(?:\.\d+)?)\s*\**\s*(?:$|[.\-:,)\n])")
_LABELLED_REASON = re.compile(r"\b(?:reason|reasoning|explanation|rationale)\b\s*[:=]\s*(.+)", re.I | re.DOTALL)


def _objects(text: str) -> list[dict]:
    """JSON-like objects in the text, outermost first (a `{` to its matching `}`)."""
    found = []
    depth, start = 0, None
    in_string, escape, quote = False, False, ""
    for index, char in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == quote:
                in_string = False
            continue
        if char in "\"'" and depth > 0:
            in_string, quote = True, char
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0 and start is not None:
                candidate = text[start:index + 1]
                for parse in (json.loads, ast.literal_eval):
                    try:
                        value = parse(candidate)
                    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                        continue
                    if isinstance(value, dict):
                        found.append(value)
                        break
    return found


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*5)?\s*", value)
        return float(match.group(1)) if match else None
    return None


def parse_judge_answer(raw: str, low: float = 1, high: float = 5) -> JudgeAnswer:
    text = raw or ""
    if not text.strip():
        raise JudgeAnswerError("the judge returned an empty answer", text)
    candidates: list[tuple[float, str]] = []
    for obj in _objects(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        score = next((_as_number(lowered[k]) for k in _SCORE_KEYS if k in lowered), None)
        if score is not None:
            reason = next((str(lowered[k]) for k in _REASON_KEYS if k in lowered), "")
            candidates.append((score, reason))
    if not candidates:
        reason_match = _LABELLED_REASON.search(text)
        reason = reason_match.group(1).strip() if reason_match else ""
        numbers = [float(m.group(1)) for m in _TAGGED.finditer(text)]
        numbers = numbers or [float(m.group(1)) for m in _LABELLED.finditer(text)]
        numbers = numbers or [float(m.group(1)) for m in _FRACTION.finditer(text)]
        if not numbers:
            bare = _BARE.match(text)
            numbers = [float(bare.group(1))] if bare else []
            if bare and not reason:
                reason = text[bare.end():].strip(" -:.\n")
        candidates = [(n, reason or text.strip()[:300]) for n in numbers]
    if not candidates:
        raise JudgeAnswerError(f"no {low:g}-{high:g} score found in the judge's answer", text)
    scores = {score for score, _ in candidates}
    if len(scores) > 1:
        listed = ", ".join(f"{s:g}" for s in sorted(scores))
        raise JudgeAnswerError(f"the judge's answer holds different scores ({listed}); cannot tell which is meant", text)
    score, reason = candidates[0]
    if not low <= score <= high:
        raise JudgeAnswerError(f"the judge's score {score:g} is outside the {low:g}-{high:g} scale", text)
    return JudgeAnswer(score=score, reason=reason.strip())
