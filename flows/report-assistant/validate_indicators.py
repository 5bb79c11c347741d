"""Aggregate and validate the indicators the model extracted.

A wrong figure in an analyst note is worse than a missing one, so every value is normalised to
one unit, checked against a plausible range, and checked against the retrieved passages: a figure
that appears in none of them is dropped and reported, not passed on.
"""

import json
import re

from promptflow.core import tool

# name -> (canonical unit, plausible range for a European insurer)
INDICATORS = {
    "gross_written_premium": ("EUR m", (10.0, 200_000.0)),
    "combined_ratio": ("%", (60.0, 150.0)),
    "solvency_ratio": ("%", (50.0, 600.0)),
    "net_income": ("EUR m", (-20_000.0, 20_000.0)),
    "return_on_equity": ("%", (-50.0, 60.0)),
}


def _number(value):
    """94.1, "94.1%", "EUR 6,842m", "6.84 bn" -> a float in the written unit, and a scale hint."""
    if isinstance(value, bool) or value is None:
        return None, None
    if isinstance(value, (int, float)):
        return float(value), None
    text = str(value).strip().lower().replace("\u2009", "").replace(" ", "")
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not match:
        return None, None
    number = float(match.group().replace(",", ""))
    scale = "bn" if re.search(r"(bn|billion)", text) else None
    return number, scale


def _normalise(name: str, entry) -> float | None:
    raw = entry.get("value") if isinstance(entry, dict) else entry
    unit = str(entry.get("unit", "")).lower() if isinstance(entry, dict) else ""
    number, scale = _number(raw)
    if number is None:
        return None
    if INDICATORS[name][0] == "EUR m" and (scale == "bn" or "bn" in unit or "billion" in unit):
        number *= 1000.0
    if INDICATORS[name][0] == "%" and 0 < abs(number) < 3 and "%" not in unit:
        number *= 100.0  # 0.941 written as a fraction
    return round(number, 1)


def _spellings(name: str, value: float) -> set:
    """The ways a report may print the value (6,842 / 6842 / 6.84 billion / 94.1%)."""
    forms = {f"{value:,.1f}", f"{value:.1f}", f"{value:,.0f}", f"{value:.0f}"}
    if INDICATORS[name][0] == "EUR m" and abs(value) >= 1000:
        forms |= {f"{value / 1000:.2f}", f"{value / 1000:.1f}"}
    return {form[:-2] if form.endswith(".0") else form for form in forms}


def _grounded(name: str, value: float, passages: list) -> bool:
    text = " ".join(str(passage.get("text", "")) for passage in passages)
    for form in _spellings(name, value):
        if re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d]|[.,]\d)", text):
            return True
    return False


@tool
def validate_indicators(llm_output: str, passages: list) -> dict:
    warnings = []
    try:
        answer = json.loads(re.sub(r"^```(?:json)?|```$", "", (llm_output or "").strip(), flags=re.M))
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
        warnings.append("the extraction did not return valid JSON; no indicator could be read")
    extracted = answer.get("indicators") if isinstance(answer.get("indicators"), dict) else {}

    result = {}
    for name, (unit, (low, high)) in INDICATORS.items():
        value = _normalise(name, extracted.get(name))
        if value is None:
            if name in extracted:
                warnings.append(f"{name}: not stated in the documents")
            else:
                warnings.append(f"{name}: missing from the extraction")
        elif not low <= value <= high:
            warnings.append(f"{name}: {value} {unit} is outside the plausible range {low}-{high}; dropped")
            value = None
        elif not _grounded(name, value, passages):
            warnings.append(f"{name}: {value} {unit} does not appear in the retrieved passages; dropped")
            value = None
        result[name] = value

    result["complete"] = all(result[name] is not None for name in INDICATORS)
    result["warnings"] = warnings
    return result
