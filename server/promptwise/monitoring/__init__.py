"""Monitoring: what served traffic and batch runs did, read from the span store.

    aggregates.py   requests, errors, latency percentiles, time to first token, tokens, cost
                    and cache hits per flow and version / consumer / day (SQL over `traces`)
    report_html.py  the self-contained HTML page (inline SVG charts, strict CSP)
    drift.py        input and output drift against a baseline (PSI, two-sample KS)
    alerts.py       rules from promptwise.yaml `alerts:`, evaluated over the same figures
    background.py   the server's alert loop; one checker among --workers N (a lease in alerts.sqlite)
    webhook.py      alert delivery (Slack/Teams JSON) from a background thread, with back-off
    online_eval.py  evaluators scoring a sample of live requests off the request path (`scores`)
    metric_drift.py online scores against the offline evaluation of the same content (Welch test)
    dashboards.py   the Grafana dashboard shipped for serve's /metrics (grafana/*.json)

Traces are the shared record (ARCHITECTURE.md): monitoring only reads the span store that
tracing/ writes, never the request path. Above tracing/store, below commands/ and lsp/.
"""
