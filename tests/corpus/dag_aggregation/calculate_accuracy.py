from collections import defaultdict
from typing import List

from promptflow.core import log_metric, tool


@tool
def calculate_accuracy(grades: List[str], lines_of_business: List[str]) -> dict:
    """Overall accuracy and accuracy per line of business, logged as run metrics."""
    per_line = defaultdict(list)
    for grade, line in zip(grades, lines_of_business):
        per_line[line].append(grade == "Correct")
    accuracy = round(sum(grade == "Correct" for grade in grades) / len(grades), 4) if grades else 0.0
    log_metric(key="accuracy", value=accuracy)
    result = {"accuracy": accuracy}
    for line, outcomes in sorted(per_line.items()):
        result[f"accuracy_{line}"] = round(sum(outcomes) / len(outcomes), 4)
        log_metric(key=f"accuracy_{line}", value=result[f"accuracy_{line}"])
    return result
