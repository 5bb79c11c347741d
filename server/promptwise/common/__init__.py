"""Plain types every layer shares, at the bottom of the package: source positions and ranges
(`source`), and problems (`problems`). This package imports nothing else from promptwise, so
documents/, analysis/ and everything above may use it without an arrow pointing up."""
