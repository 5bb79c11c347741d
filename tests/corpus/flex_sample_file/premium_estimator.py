"""Indicative motor premium for the quote page (a flex flow whose sample lives in sample.json)."""

BASE_RATE = 0.031


def estimate_premium(vehicle_value: float, driver_age: int, annual_mileage: int = 10000) -> dict:
    age_factor = 1.6 if driver_age < 25 else 1.0 if driver_age < 70 else 1.25
    mileage_factor = 1.0 + max(annual_mileage - 10000, 0) / 50000
    premium = round(vehicle_value * BASE_RATE * age_factor * mileage_factor, 2)
    return {"annual_premium_eur": premium, "monthly_premium_eur": round(premium / 12, 2)}
