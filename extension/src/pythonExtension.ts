// The Python extension's active interpreter, when that extension is installed. We read its
// public API directly (the shape the @vscode/python-extension facade describes) rather than
// depend on the facade package, and we never require the extension.
import * as vscode from "vscode";

const PYTHON_EXTENSION_ID = "ms-python.python";
const ACTIVATION_TIMEOUT_MS = 15_000;

interface EnvironmentPath {
  id: string;
  path: string;
}
interface ResolvedEnvironment {
  executable: { uri?: vscode.Uri };
}
interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri | vscode.WorkspaceFolder): EnvironmentPath;
  resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
  onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}
interface PythonExtensionApi {
  ready?: Promise<void>;
  environments?: PythonEnvironmentsApi;
}

async function environmentsApi(): Promise<PythonEnvironmentsApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (!extension) return undefined;
  const api = extension.isActive ? extension.exports : await withTimeout(extension.activate());
  if (!api?.environments) return undefined;
  if (api.ready) await withTimeout(api.ready);
  return api.environments;
}

/** The executable of the Python extension's active interpreter for `resource`, if any. */
export async function activePythonInterpreter(
  resource: vscode.Uri | undefined,
  log: vscode.LogOutputChannel,
): Promise<string | undefined> {
  try {
    const environments = await environmentsApi();
    if (!environments) return undefined;
    const active = environments.getActiveEnvironmentPath(resource);
    const resolved = await withTimeout(environments.resolveEnvironment(active));
    // `active.path` may name an environment folder rather than its python; prefer the resolved executable.
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch (error) {
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the Python extension's active interpreter changes. */
export async function onActivePythonInterpreterChanged(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const environments = await environmentsApi();
    return environments?.onDidChangeActiveEnvironmentPath(() => listener());
  } catch {
    return undefined;
  }
}

function withTimeout<T>(promise: Thenable<T>): Promise<T | undefined> {
  return Promise.race([
    Promise.resolve(promise),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ACTIVATION_TIMEOUT_MS)),
  ]);
}
