from promptflow.core import tool


@tool
def rate_band(vehicle_value: float, driver_age: int, as_of: str = "") -> str:
    band = "A" if vehicle_value < 15000 else "B" if vehicle_value < 30000 else "C"
    if driver_age < 25:
        band += "-young"
    return f"{band} ({as_of})" if as_of else band
