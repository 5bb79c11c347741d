from promptflow.core import tool

TARIFF_EFFECTIVE_DATE = "2026-03-01"


@tool(name="Tariff date", description="The effective date of the motor tariff in force.")
def tariff_date() -> str:
    return TARIFF_EFFECTIVE_DATE
