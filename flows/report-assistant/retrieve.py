"""Retrieve passages from the company documents kept in `documents/`.

The document set is small (a handful of reports), so a lexical ranking is enough and keeps the
flow free of vector stores and embedding calls: documents are split into passages (one per
heading section, tables kept whole) and ranked with Okapi BM25. Analysts write "GWP", "RoE" or
"SCR ratio" while the reports spell the terms out, so the query is expanded with those synonyms.
"""

import math
import re
from collections import Counter
from pathlib import Path

from promptflow.core import tool

K1 = 1.5  # term-frequency saturation
B = 0.75  # length normalisation
# Passages that name the company asked about outrank those about a peer with the same vocabulary:
# every report section talks about premiums and combined ratios, only the name tells them apart.
COMPANY_BOOST = 1.5
# The flow always extracts the same indicators, so their names belong in every query.
INDICATOR_TERMS = "gross written premiums combined ratio solvency ii ratio net income return on equity"
PEER_QUERY = "peer group competitors benchmark positioning combined ratio solvency return on equity net income"

SYNONYMS = {
    "gwp": "gross written premiums",
    "premium": "premiums",
    "cor": "combined ratio",
    "roe": "return on equity",
    "scr": "solvency ii ratio solvency capital requirement",
    "solvency": "solvency ii ratio",
    "profit": "net income",
    "earnings": "net income",
    "competitors": "peer group peers",
    "fy2025": "2025 financial year",
    "fy2024": "2024",
    "h1": "first half interim",
    "q1": "first quarter trading update",
}

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or our the their this to was were what"
    " which with how did does".split()
)


def tokenize(text: str) -> list:
    return [token for token in _TOKEN.findall(text.lower()) if token not in _STOPWORDS]


def expand_query(text: str) -> list:
    tokens = tokenize(text)
    expanded = list(tokens)
    for token in tokens:
        expanded.extend(tokenize(SYNONYMS.get(token, "")))
    return expanded


def split_passages(path: Path) -> list:
    """One passage per section: the text under a Markdown heading, or a paragraph in plain text."""
    text = path.read_text(encoding="utf-8")
    title = text.splitlines()[0].lstrip("# ").strip() if text.strip() else path.stem
    passages = []
    if path.suffix == ".md":
        sections = re.split(r"(?m)^(?=#{1,3} )", text)
        for section in sections:
            lines = section.strip().splitlines()
            if not lines:
                continue
            heading = lines[0].lstrip("# ").strip() if lines[0].startswith("#") else title
            body = "\n".join(lines[1:] if lines[0].startswith("#") else lines).strip()
            if body:
                passages.append({"source": path.name, "title": title, "heading": heading, "text": body})
    else:
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = paragraph.strip()
            if paragraph and paragraph.splitlines()[0].strip() != title:
                heading = paragraph.split(".", 1)[0][:60]
                passages.append({"source": path.name, "title": title, "heading": heading, "text": paragraph})
    return passages


class BM25Index:
    def __init__(self, passages: list):
        self.passages = passages
        # The title and heading count as text ("Q1 2026 trading update" is what finds a passage),
        # the heading twice: "Key figures FY2025" says more about a passage than any sentence in it.
        self.docs = [tokenize(f"{p['title']} {p['heading']} {p['heading']} {p['text']}") for p in passages]
        self.lengths = [len(doc) for doc in self.docs]
        self.average_length = (sum(self.lengths) / len(self.lengths)) if self.docs else 0.0
        self.frequencies = [Counter(doc) for doc in self.docs]
        document_frequency = Counter(term for doc in self.docs for term in set(doc))
        count = len(self.docs)
        self.idf = {
            term: math.log(1 + (count - df + 0.5) / (df + 0.5)) for term, df in document_frequency.items()
        }

    def score(self, query_terms: list, index: int) -> float:
        frequencies = self.frequencies[index]
        norm = K1 * (1 - B + B * self.lengths[index] / self.average_length)
        total = 0.0
        for term in query_terms:
            tf = frequencies.get(term, 0)
            if tf:
                total += self.idf[term] * tf * (K1 + 1) / (tf + norm)
        return total

    def search(self, query: str, top_k: int, exclude: frozenset = frozenset(), company: str = "") -> list:
        terms = expand_query(query)
        company_terms = set(tokenize(company))

        def boosted(index: int) -> float:
            score = self.score(terms, index)
            if company_terms and company_terms <= self.frequencies[index].keys():
                score *= COMPANY_BOOST
            return score

        ranked = sorted(
            ((boosted(i), i) for i in range(len(self.docs)) if i not in exclude),
            key=lambda pair: (-pair[0], pair[1]),
        )
        return [(i, score) for score, i in ranked[:top_k] if score > 0]


def load_index(documents_dir: str) -> BM25Index:
    folder = Path(documents_dir)
    if not folder.is_absolute():
        folder = Path(__file__).resolve().parent / folder
    passages = []
    for path in sorted(folder.glob("*")):
        if path.suffix in (".md", ".txt"):
            passages.extend(split_passages(path))
    return BM25Index(passages)


def _as_result(index: BM25Index, position: int, score: float) -> dict:
    passage = dict(index.passages[position])
    passage["score"] = round(score, 3)
    return passage


@tool
def retrieve(question: str, company: str, period: str, top_k: int = 5, documents_dir: str = "documents") -> dict:
    """The passages that answer the question, and peer passages for the comparison."""
    index = load_index(documents_dir)
    query = f"{question} {company} {period} {period} {INDICATOR_TERMS}"
    hits = index.search(query, max(1, int(top_k)), company=company)
    chosen = frozenset(position for position, _ in hits)
    peers = index.search(f"{PEER_QUERY} {company}", 2, exclude=chosen)
    return {
        "passages": [_as_result(index, position, score) for position, score in hits],
        "peer_passages": [_as_result(index, position, score) for position, score in peers],
    }
