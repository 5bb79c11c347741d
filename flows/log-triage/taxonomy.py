"""The operations taxonomy the triage desk routes incidents by.

Kept in code (not in the prompt) so that the classifier prompt and the validation of its
answer always agree on the same names.
"""

from promptflow.core import tool

CATEGORIES = [
    {
        "name": "data_quality",
        "owner": "Data Stewardship (business data owners)",
        "definition": (
            "A record was rejected, held or produced wrongly because the data itself is missing, "
            "invalid, inconsistent or duplicated; the systems talked to each other correctly."
        ),
        "signals": [
            "validation or schema errors on a field value",
            "dates that contradict each other (loss before inception, endorsement after expiry)",
            "amount or currency mismatches between schedule and ledger",
            "duplicate keys, two current rows, failed checksums",
        ],
    },
    {
        "name": "integration_failure",
        "owner": "Integration Platform team",
        "definition": (
            "A call, message or file transfer between two systems or a partner failed or timed out, "
            "whatever the content of the data."
        ),
        "signals": [
            "timeouts, connection refused or reset, DNS or TLS handshake errors",
            "HTTP 5xx, 429 or gateway errors from another service or partner",
            "queue, topic or SFTP delivery failures, consumer lag",
            "malformed or truncated responses from a provider",
        ],
    },
    {
        "name": "access_control",
        "owner": "Identity & Access Management",
        "definition": (
            "A person or service was refused, or should have been refused, because of who they are or "
            "what they are allowed to do: authentication, authorisation, segregation of duties."
        ),
        "signals": [
            "HTTP 401/403, invalid or expired credentials, tokens, tickets or API keys",
            "missing roles, scopes, grants or row-level security",
            "locked accounts, failed MFA, SSO assertion errors",
            "four-eyes or access-window violations",
        ],
    },
]


@tool
def load_taxonomy(include_signals: bool = True) -> list:
    """The categories with their definitions (and typical signals, for the classifier)."""
    if include_signals:
        return [dict(category) for category in CATEGORIES]
    return [{key: value for key, value in category.items() if key != "signals"} for category in CATEGORIES]
