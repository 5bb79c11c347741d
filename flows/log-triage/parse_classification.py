"""Parse and validate the classifier's JSON answer.

The model is asked for JSON, but answers still arrive wrapped in code fences, with a category
spelled "Data Quality", or with a "new" category that is really an existing one. This node turns
whatever came back into a decision the rest of the flow can trust, and says when it could not.
"""

import json
import re

from promptflow.core import tool

NEW_CATEGORY = "new"
UNCLASSIFIED = "unclassified"
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")


def _first_json_object(text: str):
    """The first JSON object in `text`, tolerating code fences and prose around it."""
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char != "{":
            continue
        try:
            value, _ = decoder.raw_decode(text[start:])
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _normalise_name(name) -> str:
    """'Data Quality', 'data-quality' and ' DATA_QUALITY ' all become 'data_quality'."""
    return re.sub(r"[^a-z0-9]+", "_", str(name or "").strip().lower()).strip("_")


def _confidence(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if number > 1.0 and number <= 100.0:  # some answers give a percentage
        number /= 100.0
    return round(min(max(number, 0.0), 1.0), 3)


@tool
def parse_classification(llm_output: str, taxonomy: list) -> dict:
    known = {category["name"] for category in taxonomy}
    answer = _first_json_object(llm_output or "")
    if answer is None:
        return {
            "category": UNCLASSIFIED,
            "is_new": False,
            "proposed_category": None,
            "confidence": 0.0,
            "evidence": "",
            "valid": False,
            "problem": "the classifier did not return a JSON object",
        }

    category = _normalise_name(answer.get("category"))
    proposed = _normalise_name(answer.get("proposed_category")) or None
    problem = None

    if category in known:
        proposed = None
    elif category == NEW_CATEGORY:
        if proposed in known:
            # A "new" category that already exists is simply that category.
            category, proposed = proposed, None
        elif proposed is None or not _SNAKE_CASE.match(proposed):
            problem = "new category proposed without a usable snake_case name"
            proposed = proposed if proposed else "unnamed_category"
    elif category and _SNAKE_CASE.match(category):
        # The model invented a name instead of answering "new": keep it as the proposal.
        category, proposed = NEW_CATEGORY, category
    else:
        return {
            "category": UNCLASSIFIED,
            "is_new": False,
            "proposed_category": None,
            "confidence": 0.0,
            "evidence": str(answer.get("evidence") or ""),
            "valid": False,
            "problem": f"unknown category {answer.get('category')!r}",
        }

    return {
        "category": category,
        "is_new": category == NEW_CATEGORY,
        "proposed_category": proposed,
        "confidence": _confidence(answer.get("confidence")),
        "evidence": str(answer.get("evidence") or "")[:300],
        "valid": problem is None,
        "problem": problem,
    }
