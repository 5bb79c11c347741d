// A `promptwise serve` the editor started outlives an extension host that was killed (a crash,
// SIGKILL: no deactivate, no dispose). The session records what it started and who started it;
// the next activation stops such a server when the host that started it is gone and the process
// still is that server (its pid not reused). Another live window's server is left alone. No
// vscode import: unit-tested.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";

export interface ServeRecord {
  /** The `promptwise serve` process. */
  pid: number;
  port: number;
  /** The extension host that started it. */
  hostPid: number;
}

export function isRecord(value: unknown): value is ServeRecord {
  const v = value as Partial<ServeRecord> | undefined;
  return !!v && [v.pid, v.port, v.hostPid].every((n) => typeof n === "number" && Number.isInteger(n) && n > 0);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A process's command line ("" when it cannot be read): /proc on Linux, `ps` elsewhere on POSIX. */
export function commandOf(pid: number): string {
  try {
    if (process.platform === "linux") return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    if (process.platform === "win32") return "";
    return execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8", timeout: 2_000 });
  } catch {
    return "";
  }
}

/** True when `record` names a server left behind: its host is gone, and the pid still runs that server. */
export function isOrphan(record: ServeRecord, alive: (pid: number) => boolean = isAlive, command: (pid: number) => string = commandOf): boolean {
  if (alive(record.hostPid) || !alive(record.pid)) return false;
  const args = command(record.pid);
  return /\bpromptwise\b/.test(args) && /\bserve\b/.test(args) && new RegExp(`--port ${record.port}(\\s|$)`).test(args);
}
