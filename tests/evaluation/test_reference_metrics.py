"""Computed text metrics agree with the reference implementations on a shared test set (to 1e-6)."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from promptwise.evaluation.base import Score
from promptwise.evaluation.computed import Bleu, RougeL, TokenF1, squad_normalize, token_f1


def _refs(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_sentence_bleu_matches_sacrebleu(reference_pairs):
    evaluator = Bleu("bleu")
    for pair in reference_pairs:
        ours = evaluator.score(pair).value
        reference = sacrebleu.sentence_bleu(pair["prediction"], _refs(pair["reference"])).score
        assert ours == pytest.approx(reference, abs=1e-6), pair


def test_corpus_bleu_matches_sacrebleu(reference_pairs):
    evaluator = Bleu("bleu")
    rows = [(pair, evaluator.score(pair)) for pair in reference_pairs]
    ours = evaluator.aggregate(rows)["corpus_bleu"]
    depth = max(len(_refs(p["reference"])) for p in reference_pairs)
    streams = [[_refs(p["reference"])[i] if i < len(_refs(p["reference"])) else None for p in reference_pairs]
               for i in range(depth)]
    expected = sacrebleu.corpus_bleu([p["prediction"] for p in reference_pairs], streams).score
    assert ours == pytest.approx(expected, abs=1e-6)
    # and it is not the mean of sentence scores (that would be a different, unreported figure)
    assert ours != pytest.approx(sum(s.value for _, s in rows) / len(rows), abs=1e-3)


def test_bleu_options_reach_sacrebleu():
    evaluator = Bleu("bleu", options={"lowercase": True})
    pair = {"prediction": "THE CLAIM WAS APPROVED", "reference": "the claim was approved"}
    assert evaluator.score(pair).value == pytest.approx(100.0, abs=1e-6)
    assert Bleu("bleu").score(pair).value < 1.0


@pytest.mark.parametrize("measure", ["fmeasure", "precision", "recall"])
def test_rouge_l_matches_rouge_score(reference_pairs, measure):
    evaluator = RougeL("rouge", options={"measure": measure})
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    for pair in reference_pairs:
        # best over references, as the evaluator documents; rouge_score takes (target, prediction)
        expected = max(getattr(scorer.score(ref, pair["prediction"])["rougeL"], measure)
                       for ref in _refs(pair["reference"]))
        assert evaluator.score(pair).value == pytest.approx(expected, abs=1e-6), pair


def test_rouge_l_argument_order_matters_and_is_right():
    # prediction is a subsequence of the reference: precision 1, recall 3/6
    pair = {"prediction": "claim approved monday", "reference": "the claim was approved on monday"}
    assert RougeL("r", options={"measure": "precision"}).score(pair).value == pytest.approx(1.0)
    assert RougeL("r", options={"measure": "recall"}).score(pair).value == pytest.approx(0.5)


def test_rouge_l_without_stemmer():
    pair = {"prediction": "running", "reference": "run"}
    assert RougeL("r").score(pair).value == pytest.approx(1.0)
    assert RougeL("r", options={"use_stemmer": False}).score(pair).value == 0.0


@pytest.mark.parametrize(
    "prediction, reference, expected",
    [
        # Worked by hand with SQuAD's rules: lower-case, strip punctuation and articles.
        ("the Eiffel Tower", "Eiffel Tower in Paris", 2 * 1.0 * 0.5 / 1.5),
        ("Eiffel Tower!", "the eiffel tower", 1.0),
        ("Paris", "London", 0.0),
        ("", "", 1.0),
        ("", "something", 0.0),
        ("a an the", "", 1.0),  # only articles normalises to empty
        ("cat cat dog", "cat dog dog", 2 * (2 / 3) * (2 / 3) / (4 / 3)),
    ],
)
def test_token_f1_worked_examples(prediction, reference, expected):
    assert token_f1(prediction, reference) == pytest.approx(expected, abs=1e-9)


def test_squad_normalize():
    assert squad_normalize("The  Cat's, an apple!") == "cats apple"


def test_token_f1_takes_best_reference():
    score = TokenF1("f1").score({"prediction": "claims rose", "reference": ["nothing alike", "claims rose"]})
    assert isinstance(score, Score) and score.value == pytest.approx(1.0)
