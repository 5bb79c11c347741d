// Ending a CLI child and everything it started (a deploy's docker build, a kubectl, a pip):
// the child runs in its own process group on POSIX (spawn with `ownGroup()`), and cancel
// signals the whole group; Windows has taskkill /T. No vscode import: unit-tested.
import { spawn, type ChildProcess } from "node:child_process";

/** Spawn options that make the child the leader of a new process group (POSIX only). */
export function ownGroup(): { detached: boolean } {
  return { detached: process.platform !== "win32" };
}

/**
 * `first` (SIGTERM; SIGINT to stop our Python CLI as Ctrl-C does, saving what it finished) to
 * the child's group; SIGKILL after `graceMs` if the child has not ended by then.
 */
export function killTree(child: ChildProcess, graceMs = 5_000, first: NodeJS.Signals = "SIGTERM"): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  if (process.platform === "win32") {
    spawn("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore" });
    return;
  }
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-pid, name);
    } catch {
      try {
        child.kill(name); // not a group leader after all: the child alone
      } catch {
        // already gone
      }
    }
  };
  signal(first);
  const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && signal("SIGKILL"), graceMs);
  timer.unref();
  child.once("close", () => clearTimeout(timer));
}

/**
 * Stops a server that drains on SIGTERM (`promptwise serve`): SIGTERM to the server alone (its
 * span-writer children must outlive the drain to store the last traces), then SIGKILL to its
 * whole group after `graceMs`, or at once when the returned `force` is called. A server that
 * exits within the grace keeps its children (they finish writing and end by themselves).
 */
export function stopDraining(child: ChildProcess, graceMs: number): () => void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return () => {};
  const pid = child.pid;
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(process.platform === "win32" ? pid : -pid, "SIGKILL");
    } catch {
      try {
        child.kill("SIGKILL"); // not a group leader after all: the server alone
      } catch {
        // already gone
      }
    }
  };
  child.kill("SIGTERM");
  const timer = setTimeout(kill, graceMs);
  timer.unref();
  child.once("exit", () => clearTimeout(timer));
  return () => {
    clearTimeout(timer);
    kill();
  };
}
