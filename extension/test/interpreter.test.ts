import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { chooseInterpreter, classifyProbe, expandPath, installSpec, probeInterpreter, runProcess } from "../src/interpreter";
import { installArgs, probeArgs, serverArgs } from "../src/serverModule";

const base = { home: "/home/ada", platform: "linux" as NodeJS.Platform, workspaceFolder: "/work/project" };

describe("chooseInterpreter", () => {
  const cases: Array<[string, Parameters<typeof chooseInterpreter>[0], { command: string; source: string }]> = [
    ["setting wins over the Python extension", { ...base, setting: "/opt/py/bin/python", pythonExtension: "/usr/bin/python3.12" }, { command: "/opt/py/bin/python", source: "setting" }],
    ["Python extension when the setting is empty", { ...base, setting: "", pythonExtension: "/usr/bin/python3.12" }, { command: "/usr/bin/python3.12", source: "python-extension" }],
    ["blank setting counts as empty", { ...base, setting: "   ", pythonExtension: "/usr/bin/python3.12" }, { command: "/usr/bin/python3.12", source: "python-extension" }],
    ["python3 when neither is there", { ...base }, { command: "python3", source: "default" }],
    ["python on Windows", { ...base, platform: "win32" }, { command: "python", source: "default" }],
    ["workspace-relative setting", { ...base, setting: ".venv/bin/python" }, { command: "/work/project/.venv/bin/python", source: "setting" }],
    ["${workspaceFolder} in the setting", { ...base, setting: "${workspaceFolder}/.venv/bin/python" }, { command: "/work/project/.venv/bin/python", source: "setting" }],
    ["~ in the setting", { ...base, setting: "~/venvs/pw/bin/python" }, { command: "/home/ada/venvs/pw/bin/python", source: "setting" }],
    ["bare command left for PATH", { ...base, setting: "python3.11" }, { command: "python3.11", source: "setting" }],
  ];
  for (const [name, inputs, expected] of cases) {
    it(name, () => assert.deepEqual(chooseInterpreter(inputs), expected));
  }
});

describe("expandPath", () => {
  it("expands ${env:NAME} and ${userHome}", () => {
    assert.equal(expandPath("${env:VENV}/bin/python", { ...base, env: { VENV: "/srv/venv" } }), "/srv/venv/bin/python");
    assert.equal(expandPath("${userHome}/py/bin/python", base), "/home/ada/py/bin/python");
  });
  it("keeps a relative path when there is no workspace folder", () => {
    assert.equal(expandPath("venv/bin/python", { home: "/h" }), "venv/bin/python");
  });
});

describe("classifyProbe", () => {
  it("ok carries the version", () => {
    assert.deepEqual(classifyProbe({ exitCode: 0, stdout: "0.3.1", stderr: "" }), { kind: "ok", version: "0.3.1" });
  });
  it("ENOENT means the interpreter is not there", () => {
    assert.equal(classifyProbe({ spawnError: "ENOENT", exitCode: null, stdout: "", stderr: "" }).kind, "not-found");
  });
  it("ModuleNotFoundError for our package means missing package", () => {
    const result = classifyProbe({ exitCode: 1, stdout: "", stderr: "Traceback...\nModuleNotFoundError: No module named 'promptwise'\n" });
    assert.deepEqual(result, { kind: "missing-package", detail: "ModuleNotFoundError: No module named 'promptwise'" });
  });
  it("a missing submodule or dependency is a failure, not a missing package", () => {
    assert.equal(classifyProbe({ exitCode: 1, stdout: "", stderr: "ModuleNotFoundError: No module named 'pygls'" }).kind, "failed");
    assert.equal(classifyProbe({ exitCode: 1, stdout: "", stderr: "ModuleNotFoundError: No module named 'promptwise.lsp'" }).kind, "failed");
  });
  it("a timeout is a failure that says so", () => {
    assert.deepEqual(classifyProbe({ spawnError: "TIMEOUT", exitCode: null, stdout: "", stderr: "" }), { kind: "failed", detail: "TIMEOUT" });
  });
});

describe("probing real interpreters", () => {
  it("a path that does not exist is not-found", async () => {
    const result = await probeInterpreter(path.join(os.tmpdir(), "no-such-dir", "python"));
    assert.equal(result.kind, "not-found");
  });
  it("an isolated system python3 lacks promptwise", async () => {
    // -I ignores PYTHONPATH and user site-packages, so the repo's editable install is not seen.
    const outcome = await runProcess("python3", ["-I", ...probeArgs()]);
    assert.equal(classifyProbe(outcome).kind, "missing-package");
  });
  it("an interpreter that can import promptwise is ok, with its version", async () => {
    // A stand-in package in the working directory (sys.path[0] for `python -c`): the probe's
    // logic is tested without depending on how, or whether, this checkout was installed.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "promptwise-probe-"));
    try {
      fs.mkdirSync(path.join(dir, "promptwise"));
      fs.writeFileSync(path.join(dir, "promptwise", "__init__.py"), '__version__ = "9.8.7"\n');
      const result = await probeInterpreter("python3", dir);
      assert.equal(result.kind, "ok");
      assert.equal(result.kind === "ok" ? result.version : "", "9.8.7");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("server module", () => {
  it("starts python -m promptwise lsp", () => assert.deepEqual(serverArgs(), ["-m", "promptwise", "lsp"]));
  it("installs with pip into the same interpreter", () => {
    assert.deepEqual(installArgs("/src/promptwise"), ["-m", "pip", "install", "--disable-pip-version-check", "/src/promptwise"]);
  });
});

describe("installSpec", () => {
  it("prefers a Promptwise checkout in the workspace", () => {
    const pyprojects = new Map([
      ["/work/other", '[project]\nname = "other"\n'],
      ["/work/main", '[build-system]\n[project]\nname = "promptwise"\nversion = "0.1.0"\n'],
    ]);
    assert.equal(installSpec(pyprojects, "promptwise"), "/work/main");
  });
  it("falls back to the PyPI name", () => {
    assert.equal(installSpec(new Map([["/w", 'name = "promptwise-extras"']]), "promptwise"), "promptwise");
  });
});
