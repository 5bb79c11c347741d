"""Serve a flow over HTTP (`promptwise serve`): the ASGI app, keys and limits, metering, streaming.

Sits above engine/ and tracing/, below commands/. Needs the `serve` extra
(`pip install 'promptwise[serve]'`: uvicorn, starlette, prometheus-client).
"""
