"""The Neovim configuration of the README works: headless Neovim (0.7, Debian's `neovim`
package) loads `editors/neovim/promptwise.lua`, opens a flow with a mistake, and receives the
server's diagnostic for it; hover and code lenses answer too, and running the cost lens's
command brings its result as a message.

Needs the `nvim` executable (apt package `neovim`); skipped only where it is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_support import copy_workspace

CONFIG = Path(__file__).resolve().parents[2] / "editors" / "neovim" / "promptwise.lua"
NVIM = shutil.which("nvim")

SCRIPT = r"""
local options = dofile(vim.fn.json_decode(vim.env.PW_CONFIG)).setup({ cmd = vim.fn.json_decode(vim.env.PW_CMD) })
local result = { options = options.patterns }
local ok, failure = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fn.json_decode(vim.env.PW_FLOW)))
  result.attached = vim.wait(60000, function() return #vim.lsp.buf_get_clients(0) > 0 end, 50)
  result.published = vim.wait(60000, function() return #vim.diagnostic.get(0) > 0 end, 50)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    local lsp = (d.user_data or {}).lsp or {}
    table.insert(result.diagnostics, { code = d.code or lsp.code, line = d.lnum, message = d.message })
  end
  local line = tonumber(vim.env.PW_HOVER_LINE)
  local hover = vim.lsp.buf_request_sync(0, "textDocument/hover", {
    textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = line, character = 10 } }, 30000)
  result.hover = {}
  for _, answer in pairs(hover or {}) do
    if answer.result then table.insert(result.hover, answer.result.contents.value) end
  end
  local lenses = vim.lsp.buf_request_sync(0, "textDocument/codeLens", { textDocument = { uri = vim.uri_from_bufnr(0) } }, 30000)
  result.lenses = {}
  local estimate
  for _, answer in pairs(lenses or {}) do
    for _, lens in ipairs(answer.result or {}) do
      table.insert(result.lenses, lens.command.command)
      if lens.command.command == "promptwise.estimateCost" then estimate = lens.command end
    end
  end
  -- run the cost lens's command as Neovim does, and catch the message it leads to
  result.messages = {}
  vim.lsp.handlers["window/showMessage"] = function(_, params) table.insert(result.messages, params.message) end
  if estimate then
    vim.lsp.buf_request_sync(0, "workspace/executeCommand", estimate, 60000)
    vim.wait(10000, function() return #result.messages > 0 end, 50)
  end
end)
result.error = (not ok) and tostring(failure) or nil
vim.fn.writefile({ vim.fn.json_encode(result) }, vim.fn.json_decode(vim.env.PW_OUT))
vim.cmd("qa!")
"""


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed (apt package `neovim`)")
def test_neovim_config_gets_diagnostics_hover_and_lenses(tmp_path: Path):
    root = copy_workspace("triage", tmp_path)
    flow = root / "flow.dag.yaml"
    text = flow.read_text().replace("    log: ${inputs.log_text}\n    examples", "    log: ${inputs.log_txt}\n    examples")
    flow.write_text(text)
    typo_line = text.split("\n").index("    log: ${inputs.log_txt}")
    hover_line = text.split("\n").index("- name: classify")
    script = tmp_path / "test.lua"
    script.write_text(SCRIPT)
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "PW_CONFIG": json.dumps(str(CONFIG)),
        "PW_CMD": json.dumps([sys.executable, "-m", "promptwise", "lsp"]),
        "PW_FLOW": json.dumps(str(flow)),
        "PW_OUT": json.dumps(str(out)),
        "PW_HOVER_LINE": str(hover_line),
        # Neovim's state and log files go to the test's folder, never the user's
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    done = subprocess.run(
        [NVIM, "--headless", "--clean", "-c", f"luafile {script}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.exists(), f"nvim wrote no result (exit {done.returncode}): {done.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result.get("error") is None, result["error"]
    assert result["attached"] and result["published"], result
    assert {"code": "PW201", "line": typo_line} in [{"code": d["code"], "line": d["line"]} for d in result["diagnostics"]]
    assert any(value.startswith("**classify** — llm node") for value in result["hover"]), result["hover"]
    assert "promptwise.runFlow" in result["lenses"] and "promptwise.estimateCost" in result["lenses"]
    # the lens's result reaches Neovim as a message
    assert any(m.startswith("Promptwise: estimate of flow.dag.yaml:") for m in result["messages"]), result["messages"]
