"""Routes a new claim to a handling team from keywords (a flex flow with a function entry)."""

from promptflow.tracing import trace

ROUTES = {
    "household": {"storm": "property-weather", "hail": "property-weather", "water": "property-water", "theft": "property-crime"},
    "motor": {"glass": "motor-glass", "windscreen": "motor-glass", "collision": "motor-own-damage", "stolen": "motor-theft"},
}


@trace
def route_claim(claim_text: str, line_of_business: str = "household") -> dict:
    text = claim_text.lower()
    for keyword, team in ROUTES.get(line_of_business, {}).items():
        if keyword in text:
            return {"team": team, "matched": keyword}
    return {"team": f"{line_of_business}-general", "matched": None}
