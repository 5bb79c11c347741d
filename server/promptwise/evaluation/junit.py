"""JUnit XML for CI: one test suite per evaluator, one test case per row.

A row below its threshold is a <failure>, a row that could not be scored an <error> (with
the raw judge answer, if any, in <system-out>), a row without a threshold passes with its
score in <system-out>. Built with ElementTree, and text is stripped of the control
characters XML 1.0 forbids, so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from promptwise.evaluation.base import Score
from promptwise.evaluation.runner import RowScores
from promptwise.redaction import redact

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    # Redacted here too: judge answers and errors can echo a key (in any encoding) that a
    # JUnit file, uploaded as a CI artifact, must not carry.
    return _INVALID_XML.sub("\ufffd", redact(str(text)))


def _value(score: Score) -> str:
    return "n/a" if score.value is None else f"{score.value:.6g}"


def junit_tree(evaluators: list[dict], rows: list[RowScores], *, suite_name: str, data_name: str | None = None) -> ET.ElementTree:
    root = ET.Element("testsuites", name=_clean(suite_name))
    total = failures = errors = 0
    for evaluator in evaluators:
        name = evaluator["name"]
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{suite_name}.{name}"))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for row in rows:
            score = row.scores.get(name)
            if score is None:
                continue
            counts["tests"] += 1
            where = f"row {row.line}" + (f" ({data_name}:{row.data_line})" if data_name and row.data_line else "")
            case = ET.SubElement(suite, "testcase", classname=_clean(f"promptwise.eval.{name}"),
                                 name=_clean(where), time="0")
            if score.error is not None:
                counts["errors"] += 1
                element = ET.SubElement(case, "error", message=_clean(score.error), type="EvaluationError")
                element.text = _clean(score.error)
                raw = score.details.get("raw")
                if raw:
                    ET.SubElement(case, "system-out").text = _clean(f"raw answer:\n{raw}")
            elif score.passed is False:
                counts["failures"] += 1
                comparison = ">=" if evaluator.get("higher_is_better", True) else "<="
                message = f"{name} = {_value(score)}, required {comparison} {evaluator.get('threshold')}"
                element = ET.SubElement(case, "failure", message=_clean(message), type="BelowThreshold")
                element.text = _clean(score.reason or message)
            else:
                ET.SubElement(case, "system-out").text = _clean(f"{name} = {_value(score)}. {score.reason}")
        for key, value in counts.items():
            suite.set(key, str(value))
        suite.set("skipped", "0")
        total += counts["tests"]
        failures += counts["failures"]
        errors += counts["errors"]
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    return ET.ElementTree(root)


def write_junit(path: Path, evaluators: list[dict], rows: list[RowScores], *, suite_name: str,
                data_name: str | None = None) -> None:
    tree = junit_tree(evaluators, rows, suite_name=suite_name, data_name=data_name)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
