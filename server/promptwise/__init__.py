"""Promptwise: understand, cost, run and evaluate Prompt flow and Prompty projects."""

__version__ = "0.1.0"
