"""Classification metrics over a run: accuracy, per-class precision/recall/F1, confusion matrix.

Per row the score is 1 when the predicted class equals the label (so the pass rate is the
accuracy); the run-level figures come from `aggregate`. Conventions follow scikit-learn's
`classification_report`: a class never predicted has precision 0, a class with no
support has recall 0, and macro averages are over every class seen in labels or predictions.
"""

from __future__ import annotations

from promptwise.evaluation.base import Evaluator, Score, as_text


def classification_report(pairs: list[tuple[str, str]], labels: list[str] | None = None) -> dict:
    """`pairs` are (predicted, actual). Returns accuracy, per-class figures, macro/weighted F1, confusion."""
    seen = sorted({actual for _, actual in pairs} | {predicted for predicted, _ in pairs})
    order = list(labels or []) + [label for label in seen if label not in (labels or [])]
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]  # rows: actual, columns: predicted
    for predicted, actual in pairs:
        matrix[index[actual]][index[predicted]] += 1
    per_class: dict[str, dict] = {}
    for label, i in index.items():
        true_positive = matrix[i][i]
        predicted_count = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    total = len(pairs)
    correct = sum(matrix[i][i] for i in range(len(order)))
    macro = {key: (sum(c[key] for c in per_class.values()) / len(per_class) if per_class else 0.0)
             for key in ("precision", "recall", "f1")}
    weighted_f1 = (sum(c["f1"] * c["support"] for c in per_class.values()) / total) if total else 0.0
    return {
        "accuracy": correct / total if total else 0.0,
        "macro_precision": macro["precision"],
        "macro_recall": macro["recall"],
        "macro_f1": macro["f1"],
        "weighted_f1": weighted_f1,
        "per_class": per_class,
        "confusion": {"labels": order, "matrix": matrix},
        "count": total,
    }


class Classification(Evaluator):
    kind = "classification"
    description = "1 when prediction equals label; the run gets accuracy, per-class P/R/F1 and a confusion matrix"
    required_inputs = ("prediction", "label")
    default_threshold = 1.0
    options_allowed = ("labels", "ignore_case")

    def _norm(self, value: object) -> str:
        text = as_text(value).strip()
        return text.casefold() if self.options.get("ignore_case") else text

    def score(self, inputs: dict) -> Score:
        predicted, actual = self._norm(inputs["prediction"]), self._norm(inputs["label"])
        correct = predicted == actual
        reason = f"predicted {predicted!r}" + ("" if correct else f", expected {actual!r}")
        return self.judged(1.0 if correct else 0.0, reason, details={"predicted": predicted, "label": actual})

    def aggregate(self, rows: list[tuple[dict, Score]]) -> dict:
        pairs = [(score.details["predicted"], score.details["label"]) for _, score in rows
                 if score.error is None and "predicted" in score.details]
        labels = [self._norm(label) for label in self.options.get("labels") or []]
        return classification_report(pairs, labels)
