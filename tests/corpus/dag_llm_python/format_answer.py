from promptflow.core import tool


@tool
def format_answer(llm_answer: str) -> dict:
    verdict, _, explanation = llm_answer.partition(":")
    verdict = verdict.strip().upper()
    return {
        "covered": verdict == "COVERED",
        "answer": explanation.strip() if verdict in {"COVERED", "NOT COVERED", "DEPENDS"} else llm_answer.strip(),
    }
