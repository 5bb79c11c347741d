"""Plain types every layer shares, at the bottom of the package: source positions and ranges
(`source`), problems (`problems`), and what a missing optional extra says (`extras`). This
package imports nothing else from promptwise, so documents/, analysis/ and everything above
may use it without an arrow pointing up."""
