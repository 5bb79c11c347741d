"""Screens a commercial property submission against the appetite guide (a flex flow with a class entry)."""

from pathlib import Path

from promptflow.core import OpenAIModelConfiguration
from promptflow.tracing import trace

REFERRAL_SUM_INSURED_EUR = 5_000_000


class UnderwritingAssistant:
    def __init__(self, model_config: OpenAIModelConfiguration, appetite_guide: str = "appetite_guide.md"):
        self.model_config = model_config
        guide = Path(__file__).resolve().parent / appetite_guide
        self.guide = guide.read_text(encoding="utf-8") if guide.is_file() else ""

    @trace
    def __call__(self, submission: str, sum_insured: float = 1_000_000) -> dict:
        reasons = []
        text = submission.lower()
        for excluded in ("fireworks", "recycling", "vacant"):
            if excluded in text:
                return {"decision": "decline", "reasons": [f"{excluded} is out of appetite"]}
        if sum_insured > REFERRAL_SUM_INSURED_EUR:
            reasons.append("sum insured above the referral limit")
        if any(str(year) in text for year in range(1900, 1970)):
            reasons.append("building older than 1970: electrical inspection needed")
        return {"decision": "refer" if reasons else "accept", "reasons": reasons}
