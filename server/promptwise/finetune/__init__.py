"""Fine-tuning: check chat-format training data (structure, tokens, cost) and run jobs.

`data` validates and counts a JSONL file offline (costing/ tokenizers and catalog);
`jobs` uploads files and starts/follows jobs through the official `openai` client over a
resolved engine connection. Sits above costing/ and engine/, below commands/.
"""
