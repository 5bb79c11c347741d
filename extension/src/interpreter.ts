// Which Python runs the server, and whether that Python has the server package.
// No vscode import: the choice is plain logic, unit-tested outside VS Code.
import { execFile } from "node:child_process";
import * as path from "node:path";
import { probeArgs, SERVER_PACKAGE } from "./serverModule";

export type InterpreterSource = "setting" | "python-extension" | "default";

export interface InterpreterChoice {
  command: string;
  source: InterpreterSource;
}

export interface InterpreterInputs {
  /** Value of the `promptwise.python` setting ("" when unset). */
  setting?: string;
  /** The Python extension's active interpreter, when that extension is installed. */
  pythonExtension?: string;
  /** First workspace folder (file-system path), for `${workspaceFolder}` and relative paths. */
  workspaceFolder?: string;
  home: string;
  platform: NodeJS.Platform;
  env?: Record<string, string | undefined>;
}

/** The setting wins, then the Python extension's interpreter, then `python3` (`python` on Windows). */
export function chooseInterpreter(inputs: InterpreterInputs): InterpreterChoice {
  const setting = inputs.setting?.trim();
  if (setting) {
    return { command: expandPath(setting, inputs), source: "setting" };
  }
  const fromExtension = inputs.pythonExtension?.trim();
  if (fromExtension) {
    return { command: fromExtension, source: "python-extension" };
  }
  return { command: inputs.platform === "win32" ? "python" : "python3", source: "default" };
}

/**
 * Expands `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`; a relative path
 * with a separator is taken from the workspace folder. A bare name (`python3.11`) is left for
 * PATH lookup.
 */
export function expandPath(
  value: string,
  inputs: Pick<InterpreterInputs, "workspaceFolder" | "home" | "env">,
): string {
  let result = value.trim();
  result = result.replace(/\$\{env:([^}]+)\}/g, (_, name: string) => inputs.env?.[name] ?? "");
  result = result.replace(/\$\{userHome\}/g, inputs.home);
  if (inputs.workspaceFolder) {
    result = result.replace(/\$\{workspaceFolder\}/g, inputs.workspaceFolder);
  }
  if (result === "~" || result.startsWith("~/") || result.startsWith("~\\")) {
    result = path.join(inputs.home, result.slice(1));
  }
  const hasSeparator = result.includes("/") || result.includes("\\");
  if (hasSeparator && !path.isAbsolute(result) && inputs.workspaceFolder) {
    result = path.join(inputs.workspaceFolder, result);
  }
  return result;
}

export type ProbeResult =
  | { kind: "ok"; version: string }
  | { kind: "not-found"; detail: string }
  | { kind: "missing-package"; detail: string }
  | { kind: "failed"; detail: string };

/** The outcome of running a process, as `classifyProbe` needs it. */
export interface ProcessOutcome {
  /** Node's error code when the process could not start (ENOENT, EACCES) or timed out. */
  spawnError?: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Turns the outcome of `python -c "import promptwise"` into what the user must be told. */
export function classifyProbe(outcome: ProcessOutcome): ProbeResult {
  if (outcome.spawnError === "ENOENT" || outcome.spawnError === "EACCES") {
    return { kind: "not-found", detail: outcome.spawnError };
  }
  if (outcome.exitCode === 0 && !outcome.spawnError) {
    return { kind: "ok", version: outcome.stdout.trim() || "unknown" };
  }
  const stderr = outcome.stderr.trim();
  // Exactly our package: "No module named 'promptwise.lsp'" is a broken install, not a missing one.
  const missing = new RegExp(`No module named '${SERVER_PACKAGE}'`);
  if (missing.test(stderr)) {
    return { kind: "missing-package", detail: lastLine(stderr) };
  }
  const detail = outcome.spawnError
    ? `${outcome.spawnError}${stderr ? `: ${lastLine(stderr)}` : ""}`
    : lastLine(stderr) || `exit code ${outcome.exitCode}`;
  return { kind: "failed", detail };
}

/** Runs a process to completion without a shell; never rejects. */
export function runProcess(
  command: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessOutcome> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, env: options.env, maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
        let spawnError: string | undefined;
        let exitCode: number | null = 0;
        if (err) {
          if (typeof err.code === "string") {
            spawnError = err.code;
            exitCode = null;
          } else if (err.killed) {
            spawnError = "TIMEOUT";
            exitCode = null;
          } else {
            exitCode = typeof err.code === "number" ? err.code : 1;
          }
        }
        resolve({ spawnError, exitCode, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Checks that `command` is a Python with the server package installed. */
export async function probeInterpreter(command: string, cwd?: string): Promise<ProbeResult> {
  return classifyProbe(await runProcess(command, probeArgs(), { cwd, timeoutMs: 30_000 }));
}

/**
 * What to `pip install`: the Promptwise checkout when one of the workspace folders (or a parent)
 * is one, so a developer gets their own code; otherwise the package from PyPI.
 * `pyprojects` maps a directory to its pyproject.toml text.
 */
export function installSpec(pyprojects: Map<string, string>, distribution: string): string {
  for (const [directory, text] of pyprojects) {
    if (new RegExp(`^\\s*name\\s*=\\s*["']${distribution}["']`, "m").test(text)) {
      return directory;
    }
  }
  return distribution;
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  return lines.length ? lines[lines.length - 1].trim() : "";
}
