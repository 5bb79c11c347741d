// A long-running CLI command the user can cancel: `promptwise eval --models` can run for hours.
// No vscode import, so the unit tests run it against real processes.
import { spawn } from "node:child_process";
import type { ProcessOutcome } from "./interpreter";
import { killTree, ownGroup } from "./processTree";

export interface CancellableOutcome extends ProcessOutcome {
  /** True when `cancel()` was called before the process ended. */
  cancelled: boolean;
}

export interface CancellableProcess {
  /** Settles when the process has exited (never rejects). */
  readonly done: Promise<CancellableOutcome>;
  /**
   * Asks the process to stop as Ctrl-C would (SIGINT to its whole process group, so the Python
   * CLI saves what it finished and says so), then kills the group if it is still there after
   * `graceMs`. Calling it again, or after the exit, does nothing.
   */
  cancel(): void;
}

export interface CancellableOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each complete line the process writes to stderr, as it comes (for progress). */
  onStderrLine?: (line: string) => void;
  /** How long SIGINT is given before SIGKILL (default 5 s). */
  graceMs?: number;
}

const MAX_OUTPUT = 16 * 1024 * 1024;

export function runCancellable(command: string, args: string[], options: CancellableOptions = {}): CancellableProcess {
  // Its own process group (POSIX), so a cancel reaches whatever the command started too.
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, ...ownGroup(), stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
  let stdout = "";
  let stderr = "";
  let partialLine = "";
  let cancelled = false;
  let exited = false;

  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    if (stdout.length < MAX_OUTPUT) stdout += chunk;
  });
  child.stderr.on("data", (chunk: string) => {
    if (stderr.length < MAX_OUTPUT) stderr += chunk;
    if (!options.onStderrLine) return;
    // A progress bar rewrites its line with \r: each rewrite counts as a line.
    const parts = (partialLine + chunk).split(/\r\n|\n|\r/);
    partialLine = parts.pop() ?? "";
    for (const line of parts) if (line.trim()) options.onStderrLine(line);
  });

  const done = new Promise<CancellableOutcome>((resolve) => {
    let spawnError: string | undefined;
    child.on("error", (error: NodeJS.ErrnoException) => {
      spawnError = error.code ?? error.message;
      if (child.pid === undefined) {
        exited = true;
        resolve({ spawnError, exitCode: null, stdout, stderr, cancelled });
      }
    });
    // Whatever the cancelled command started and left behind in its group goes with it (and
    // with it any pipe such a process held open, which would keep "close" from coming).
    child.on("exit", () => {
      if (!cancelled || process.platform === "win32" || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone already
      }
    });
    // "close": the process exited and its pipes are drained (the JSON is complete).
    child.on("close", (code, signal) => {
      exited = true;
      if (options.onStderrLine && partialLine.trim()) options.onStderrLine(partialLine);
      resolve({ spawnError: spawnError ?? (signal ? signal : undefined), exitCode: code, stdout, stderr, cancelled });
    });
  });

  return {
    done,
    cancel() {
      if (cancelled || exited) return;
      cancelled = true;
      killTree(child, options.graceMs ?? 5_000, "SIGINT");
    },
  };
}
