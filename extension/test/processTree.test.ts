import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { killTree, ownGroup, stopDraining } from "../src/processTree";

/** Running (a zombie waiting for a container's init to reap it has ended: state Z in /proc). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) answered
  }
}

describe("killTree (POSIX process groups)", () => {
  it("ends the child and the processes it started", async () => {
    // A shell that starts a long sleep in the background, prints its pid and waits: a deploy's docker build.
    const child = spawn("sh", ["-c", "sleep 60 >/dev/null & echo $!; wait"], { ...ownGroup(), stdio: ["ignore", "pipe", "ignore"] });
    const grandchild = await new Promise<number>((resolve) => child.stdout.once("data", (chunk) => resolve(Number(String(chunk).trim()))));
    assert.ok(alive(grandchild));
    const closed = new Promise((resolve) => child.once("close", resolve));
    killTree(child, 1_000);
    await closed;
    // The group got SIGTERM: the background sleep is gone too (reaped by init; allow it a moment).
    for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(alive(grandchild), false);
  });

  it("a child that has ended is left alone", async () => {
    const child = spawn("true", [], ownGroup());
    await new Promise((resolve) => child.once("close", resolve));
    assert.doesNotThrow(() => killTree(child));
  });
});

/** A node child that traps SIGTERM: it ends by itself `afterMs` later (-1: never), like a draining server. */
function drainingChild(afterMs: number) {
  const script = `process.on("SIGTERM", () => { if (${afterMs} >= 0) setTimeout(() => process.exit(0), ${afterMs}); }); console.log("up"); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["-e", script], { ...ownGroup(), stdio: ["ignore", "pipe", "ignore"] });
  const up = new Promise((resolve) => child.stdout.once("data", resolve));
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
  return { child, up, exited };
}

describe("stopDraining (serve's stop: SIGTERM, then SIGKILL to the group)", { skip: process.platform === "win32" }, () => {
  it("lets a server that drains within the grace end by itself", async () => {
    const { child, up, exited } = drainingChild(300);
    await up;
    stopDraining(child, 30_000);
    assert.deepEqual(await exited, [0, null]);
  });
  it("kills a server still running when the grace is over", async () => {
    const { child, up, exited } = drainingChild(-1);
    await up;
    stopDraining(child, 200);
    assert.deepEqual(await exited, [null, "SIGKILL"]);
  });
  it("kills at once when forced, whatever the grace", async () => {
    const { child, up, exited } = drainingChild(-1);
    await up;
    const force = stopDraining(child, 600_000);
    force();
    assert.deepEqual(await exited, [null, "SIGKILL"]);
  });
  it("leaves a server that has ended alone", async () => {
    const { child, up, exited } = drainingChild(0);
    await up;
    child.kill("SIGTERM");
    await exited;
    assert.doesNotThrow(() => stopDraining(child, 10)());
  });
});
