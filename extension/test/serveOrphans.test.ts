import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { commandOf, isAlive, isOrphan, isRecord } from "../src/serveOrphans";

const record = { pid: 200, port: 8123, hostPid: 100 };
const serving = "/venv/bin/python -m promptwise serve /w/chat.prompty --host 127.0.0.1 --port 8123 ";

describe("a serve left behind by a killed extension host", () => {
  it("is stopped only when its host is gone and the pid still runs that server", () => {
    const alive = (...pids: number[]) => (pid: number) => pids.includes(pid);
    assert.equal(isOrphan(record, alive(200), () => serving), true);
    assert.equal(isOrphan(record, alive(100, 200), () => serving), false, "another window's live server");
    assert.equal(isOrphan(record, alive(), () => serving), false, "already gone");
    assert.equal(isOrphan(record, alive(200), () => "/usr/bin/vim notes.txt"), false, "pid reused by another program");
    assert.equal(isOrphan(record, alive(200), () => serving.replace("8123", "81234")), false, "another serve's port");
  });
  it("reads a stored record only when it is one", () => {
    assert.equal(isRecord(record), true);
    assert.equal(isRecord({ pid: 1, port: 2 }), false);
    assert.equal(isRecord(undefined), false);
  });
  it("sees a real process's life and command line", { skip: process.platform === "win32" }, async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)", "--", "promptwise", "serve", "--port", "8123"], { stdio: "ignore" });
    await new Promise((resolve) => child.once("spawn", resolve));
    assert.equal(isAlive(child.pid!), true);
    assert.match(commandOf(child.pid!), /promptwise serve --port 8123/);
    assert.equal(isOrphan({ pid: child.pid!, port: 8123, hostPid: 0x7ffffff0 }), true);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill();
    await exited;
    assert.equal(isAlive(child.pid!), false);
  });
});
