"""`promptflow.contracts.types`: type names tools use in annotations."""


class PromptTemplate(str):
    pass


class FilePath(str):
    pass


class Secret(str):
    pass
