import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCancellable } from "../src/childProcess";

// Real processes (node itself): a stand-in for `promptwise eval --models` that prints progress
// on stderr, stops on SIGINT as the Python CLI does on Ctrl-C, or ignores it.
const node = process.execPath;

/** True while a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`never: ${what}`);
}

describe("a cancellable command", () => {
  it("gives its stdout, exit code and stderr lines as they come", async () => {
    const lines: string[] = [];
    const child = runCancellable(node, ["-e", "process.stderr.write('running a ...\\nrows 1/2\\rrows 2/2\\n'); process.stdout.write(JSON.stringify({ok: 1})); process.exit(1)"],
      { onStderrLine: (line) => lines.push(line) });
    const outcome = await child.done;
    assert.deepEqual({ exitCode: outcome.exitCode, stdout: outcome.stdout, cancelled: outcome.cancelled }, { exitCode: 1, stdout: '{"ok":1}', cancelled: false });
    assert.deepEqual(lines, ["running a ...", "rows 1/2", "rows 2/2"]);
  });

  it("reports a command that cannot start, without throwing", async () => {
    const outcome = await runCancellable("/nonexistent/python3", ["-m", "promptwise"]).done;
    assert.equal(outcome.spawnError, "ENOENT");
    assert.equal(outcome.exitCode, null);
  });

  it("Cancel stops it as Ctrl-C would, and it says what it saved", { skip: process.platform === "win32" ? "POSIX signals" : false }, async () => {
    const script = "process.on('SIGINT', () => { process.stderr.write('promptwise: interrupted; saved\\n'); process.exit(130); });" +
      "process.stderr.write('started\\n'); setInterval(() => {}, 1000);";
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const child = runCancellable(node, ["-e", script], { onStderrLine: (line) => line === "started" && started() });
    await ready;
    child.cancel();
    const outcome = await child.done;
    assert.equal(outcome.cancelled, true);
    assert.equal(outcome.exitCode, 130);
    assert.match(outcome.stderr, /promptwise: interrupted; saved/);
  });

  it("Cancel kills a command that ignores Ctrl-C, and what it started, after the grace period", { skip: process.platform === "win32" ? "POSIX process groups" : false }, async () => {
    // The command starts a grandchild (as a worker process would) and ignores SIGINT.
    const script = "const { spawn } = require('node:child_process');" +
      "process.on('SIGINT', () => {});" +
      "const g = spawn(process.execPath, ['-e', \"process.on('SIGINT', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' });" +
      "process.stderr.write('grandchild ' + g.pid + '\\n'); setInterval(() => {}, 1000);";
    let grandchild = 0;
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const child = runCancellable(node, ["-e", script], {
      graceMs: 300,
      onStderrLine: (line) => {
        const match = /^grandchild (\d+)$/.exec(line);
        if (match) {
          grandchild = Number(match[1]);
          started();
        }
      },
    });
    await ready;
    assert.ok(alive(grandchild));
    child.cancel();
    child.cancel(); // a second Cancel changes nothing
    const outcome = await child.done;
    assert.equal(outcome.cancelled, true);
    assert.equal(outcome.spawnError, "SIGKILL");
    await eventually(() => !alive(grandchild), `the grandchild ${grandchild} is gone`);
  });

  it("Cancel after the command ended does nothing", async () => {
    const child = runCancellable(node, ["-e", "process.exit(0)"]);
    const outcome = await child.done;
    child.cancel();
    assert.equal(outcome.cancelled, false);
    assert.equal(outcome.exitCode, 0);
  });
});
