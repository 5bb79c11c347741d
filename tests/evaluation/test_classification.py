"""Classification metrics, worked by hand on a small confusion matrix."""

from __future__ import annotations

import pytest

from promptwise.evaluation.classification import Classification, classification_report


def test_report_by_hand():
    # (predicted, actual)
    pairs = [("db", "db"), ("db", "db"), ("net", "db"), ("net", "net"), ("db", "net"), ("auth", "auth"), ("net", "new")]
    report = classification_report(pairs)
    assert report["accuracy"] == pytest.approx(4 / 7)
    labels = report["confusion"]["labels"]
    assert labels == ["auth", "db", "net", "new"]
    matrix = report["confusion"]["matrix"]  # rows actual, columns predicted
    assert matrix[labels.index("db")] == [0, 2, 1, 0]
    assert matrix[labels.index("new")] == [0, 0, 1, 0]
    db = report["per_class"]["db"]
    assert db["precision"] == pytest.approx(2 / 3) and db["recall"] == pytest.approx(2 / 3) and db["support"] == 3
    net = report["per_class"]["net"]
    assert net["precision"] == pytest.approx(1 / 3) and net["recall"] == pytest.approx(1 / 2)
    assert net["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    new = report["per_class"]["new"]
    assert new == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx(sum(c["f1"] for c in report["per_class"].values()) / 4)


def test_label_order_from_options_and_rows():
    evaluator = Classification("c", options={"labels": ["net", "db"]})
    rows = [({}, evaluator.score({"prediction": p, "label": a})) for p, a in [("db", "db"), ("net", "db"), ("x", "x")]]
    assert [s.value for _, s in rows] == [1.0, 0.0, 1.0]
    figures = evaluator.aggregate(rows)
    assert figures["confusion"]["labels"] == ["net", "db", "x"]
    assert figures["accuracy"] == pytest.approx(2 / 3)


def test_case_folding_option():
    assert Classification("c", options={"ignore_case": True}).score({"prediction": "DB ", "label": "db"}).passed
    assert not Classification("c").score({"prediction": "DB", "label": "db"}).passed
