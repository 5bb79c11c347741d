"""`promptwise serve` as a user meets it from the README: bugs found walking the operate
lifecycle, each pinned with a real process."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import openai

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


def test_a_port_in_use_is_one_error_before_the_banner(tmp_path):
    # Was: "promptwise: serving ... on http://127.0.0.1:P" then uvicorn's own "ERROR: [Errno 98] ..."
    # and exit code 3.
    with FakeOpenAI() as fake, socket.socket() as holder:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(root / "echo.prompty"),
                               "--port", str(port)], capture_output=True, text=True, timeout=60, cwd=root)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "serving" not in done.stderr and "Errno" not in done.stderr and "Traceback" not in done.stderr


CHAT_PROMPTY = {
    "helpdesk.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        inputs:
          question: {type: string}
          chat_history: {type: list, default: []}
        ---
        system:
        You answer helpdesk questions.
        {% for item in chat_history %}
        {{item.role}}:
        {{item.content}}
        {% endfor %}
        user:
        {{question}}
    """,
}


def test_the_banner_names_the_chat_route_of_a_chat_flow_only(tmp_path):
    # Was: "POST /score, GET /openapi.json" for every flow, so a chat flow's OpenAI-compatible
    # route went unmentioned where the user looks for the URL.
    with FakeOpenAI() as fake:
        (tmp_path / "chat").mkdir()
        (tmp_path / "echo").mkdir()
        chat_root = write_workspace(tmp_path / "chat", fake.base_url, CHAT_PROMPTY)
        echo_root = write_workspace(tmp_path / "echo", fake.base_url, ECHO_PROMPTY)
        for root, name, chat in ((chat_root, "helpdesk.prompty", True), (echo_root, "echo.prompty", False)):
            server = ServeProcess(root / name)
            try:
                banner = next(line for line in server.stderr().splitlines() if "serving" in line)
                assert ("POST /v1/chat/completions" in banner) is chat, banner
                assert "POST /score" in banner
                if chat:  # and the route the banner names answers an OpenAI client's request
                    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused-on-loopback")
                    reply = client.chat.completions.create(model="helpdesk", messages=[
                        {"role": "user", "content": "where is my claim"}])
                    assert "where is my claim" in reply.choices[0].message.content
            finally:
                server.stop()


def test_a_deployed_image_names_its_packaged_version_not_a_content_hash(tmp_path):
    # `promptwise deploy` bakes PROMPTWISE_VERSION (and PROMPTWISE_CONTENT_HASH) into the image;
    # was: its server still answered `x-promptwise-version: sha256:...`, so a canary's answers,
    # traces and metrics did not name the versions the Deployments and HTTPRoute split between.
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        for baked_hash, expected in (("", "echo:v7"), ("sha256:" + "0" * 64, None)):
            server = ServeProcess(root / "echo.prompty",
                                  env={"PROMPTWISE_VERSION": "echo:v7", "PROMPTWISE_CONTENT_HASH": baked_hash})
            try:
                response = httpx.post(server.url + "/score", json={"question": "which version?"}, timeout=30)
                assert response.status_code == 200, response.text
                ready = httpx.get(server.url + "/ready", timeout=10).json()
                if expected:
                    assert response.headers["x-promptwise-version"] == expected and ready["version"] == expected
                    assert f'version="{expected}"' in httpx.get(server.url + "/metrics", timeout=10).text
                else:  # other files than the image was built with: the version id would be a lie
                    assert response.headers["x-promptwise-version"].startswith("sha256:")
                    assert ready["version"] == ready["content_hash"]
            finally:
                server.stop()
