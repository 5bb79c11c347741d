"""Two flows whose default names agree (chat/chat.prompty and chat2/chat.prompty are both "chat")
may not share a registered name: they would share versions and a rollout, and `serve
chat2/chat.prompty` served chat:v1 of chat/. The registry refuses, naming the owner and the way out."""

from __future__ import annotations

import json

from promptwise.cli import main

PROMPTY = """---
name: Chat
model:
  api: chat
---
system:
Answer briefly.
user:
{{question}}
"""


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code or 0, out, err


def test_a_second_flow_with_a_taken_name_is_refused_by_package_rollout_and_serve(workspace, capsys):
    for folder in ("chat", "chat2"):  # the same content too: a copied flow must not pass as chat:v1
        (workspace / folder).mkdir()
        (workspace / folder / "chat.prompty").write_text(PROMPTY, encoding="utf-8")
    code, out, _ = run(capsys, "package", "chat/chat.prompty", "--format", "json")
    assert code == 0 and json.loads(out)["version"] == "chat:v1"
    assert run(capsys, "rollout", "set", "chat/chat.prompty", "v1=100")[0] == 0

    code, _, err = run(capsys, "package", "chat2/chat.prompty")
    assert code == 2 and "Traceback" not in err
    assert "'chat'" in err and "chat/chat.prompty (chat:v1" in err and "--name chat" in err
    code, _, err = run(capsys, "rollout", "status", "chat2/chat.prompty")
    assert code == 2 and "chat/chat.prompty (chat:v1" in err
    code, _, err = run(capsys, "serve", "chat2/chat.prompty", "--port", "0")
    assert code == 2 and "chat/chat.prompty (chat:v1" in err
    code, _, err = run(capsys, "deploy", "chat2/chat.prompty", "--target", "docker", "--version", "v1", "--out", "out")
    assert code == 2 and "chat/chat.prompty (chat:v1" in err
    code, out, _ = run(capsys, "versions", "list", "--format", "json")
    assert [v["version"] for v in json.loads(out)] == ["chat:v1"]

    # The owner is unaffected; a name chosen on purpose (the flow moved) is the user's to give.
    assert run(capsys, "package", "chat/chat.prompty")[0] == 0
    code, out, _ = run(capsys, "package", "chat2/chat.prompty", "--name", "chat2", "--format", "json")
    assert code == 0 and json.loads(out)["version"] == "chat2:v1"
