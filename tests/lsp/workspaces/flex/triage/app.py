def classify_log(log_text: str) -> dict:
    """Classify an error log by keywords."""
    if "disk" in log_text.lower():
        return {"category": "storage"}
    return {"category": "application"}
