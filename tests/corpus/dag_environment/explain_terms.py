import json
import os
from pathlib import Path

from promptflow.core import tool


@tool
def explain_terms(text: str, glossary_file: str = "claims_glossary.json") -> dict:
    """The glossary entries for the terms the text uses (the glossary comes in via additional_includes)."""
    path = Path(__file__).resolve().parent / glossary_file
    glossary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    region = os.environ.get("CLAIMS_REGION", "all")
    found = {term: meaning for term, meaning in glossary.items() if term.lower() in text.lower()}
    return {"region": region, "terms": found}
