from promptflow.core import tool

LARGE_LOSS_THRESHOLD_EUR = 10000


@tool
def assess(claim_amount: float) -> dict:
    is_large = claim_amount >= LARGE_LOSS_THRESHOLD_EUR
    return {
        "is_large": is_large,
        "reason": f"claimed {claim_amount:,.0f} EUR ({'at or above' if is_large else 'below'} the large-loss threshold)",
    }
