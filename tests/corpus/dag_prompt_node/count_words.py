from promptflow import tool


@tool
def count_words(text: str) -> int:
    return len(text.split())
