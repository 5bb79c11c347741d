// Starts, stops and restarts the Promptwise language server, and is the one way the rest of
// the client talks to it.
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CloseAction,
  CodeLensRequest,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  WorkDoneProgress,
  type CloseHandlerResult,
  type DynamicFeature,
  type ErrorHandler,
  type ErrorHandlerResult,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { chooseInterpreter, installSpec, probeInterpreter, runProcess, type InterpreterChoice } from "./interpreter";
import { activePythonInterpreter } from "./pythonExtension";
import { installArgs, SERVER_DISTRIBUTION, serverArgs } from "./serverModule";

export type ServerState = "stopped" | "starting" | "running" | "failed";

const CLIENT_ID = "promptwise";
const CLIENT_NAME = "Promptwise";
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 3 * 60_000;

/**
 * The server's `workspace/executeCommand` commands are registered by the extension itself (with
 * progress, cancel and result panels), so the client library must not register them again:
 * drop its built-in execute-command feature, recognised by its protocol method.
 */
class PromptwiseLanguageClient extends LanguageClient {
  public override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    const method = (feature as Partial<DynamicFeature<unknown>>).registrationType?.method;
    if (method === ExecuteCommandRequest.method) return;
    super.registerFeature(feature);
  }
}

/** Restarts a crashed server a few times, then stops and says where the log is. */
class RestartLimitedErrorHandler implements ErrorHandler {
  private readonly restarts: number[] = [];

  error(_error: Error, _message: unknown, count: number | undefined): ErrorHandlerResult {
    return { action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown };
  }

  closed(): CloseHandlerResult {
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length && now - this.restarts[0] > RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length <= MAX_RESTARTS) return { action: CloseAction.Restart };
    return {
      action: CloseAction.DoNotRestart,
      message: `The Promptwise server stopped ${MAX_RESTARTS + 1} times in 3 minutes and will not be restarted; see the Promptwise output for the cause, then run "Promptwise: Restart Server".`,
    };
  }
}

export class PromptwiseServer implements vscode.Disposable {
  private client: PromptwiseLanguageClient | undefined;
  private lifecycle: Promise<void> = Promise.resolve();
  private stateValue: ServerState = "stopped";
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  readonly onDidChangeState = this.stateEmitter.event;
  interpreter: InterpreterChoice | undefined;
  version: string | undefined;

  constructor(readonly log: vscode.LogOutputChannel) {}

  get state(): ServerState {
    return this.stateValue;
  }

  /** Starts the server unless it runs already. Calls are queued, never overlapping. */
  start(): Promise<void> {
    return this.enqueue(() => this.startNow());
  }

  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.stopNow();
      await this.startNow();
    });
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.stopNow());
  }

  /** Sends `workspace/executeCommand` with our one-object argument convention. */
  async executeCommand<T>(
    command: string,
    args: object,
    options: { workDoneToken?: string; token?: vscode.CancellationToken } = {},
  ): Promise<T> {
    const client = await this.runningClient();
    return (await client.sendRequest(
      ExecuteCommandRequest.type,
      { command, arguments: [args], workDoneToken: options.workDoneToken },
      options.token,
    )) as T;
  }

  async request<T>(method: string, params: object, token?: vscode.CancellationToken): Promise<T> {
    const client = await this.runningClient();
    return client.sendRequest<T>(method, params, token);
  }

  /** Follows the server's progress reports on a token the client created. */
  onProgress(
    token: string,
    handler: (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => void,
  ): vscode.Disposable {
    if (!this.client) return new vscode.Disposable(() => undefined);
    return this.client.onProgress(WorkDoneProgress.type, token, handler);
  }

  /**
   * Asks VS Code for the server's lenses of the visible editors again: what the server sends
   * itself (workspace/codeLens/refresh) after runs it made, for traces that others wrote (a
   * served request, `promptwise run` in a terminal), whose "last run" lenses would go stale.
   */
  refreshCodeLenses(): void {
    const client = this.client;
    if (!client || client.state !== State.Running) return;
    const lenses = client.getFeature(CodeLensRequest.method);
    for (const editor of vscode.window.visibleTextEditors) lenses.getProvider(editor.document)?.onDidChangeCodeLensEmitter.fire();
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
  }

  private async runningClient(): Promise<PromptwiseLanguageClient> {
    await this.lifecycle;
    if (!this.client || this.client.state !== State.Running) {
      throw new Error(
        this.stateValue === "failed"
          ? 'The Promptwise server is not running; see the Promptwise output, fix the cause, then run "Promptwise: Restart Server".'
          : "The Promptwise server is not running yet; try again in a moment.",
      );
    }
    return this.client;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(step, step);
    this.lifecycle = next.catch(() => undefined);
    return next;
  }

  private setState(state: ServerState): void {
    this.stateValue = state;
    this.stateEmitter.fire(state);
  }

  private async startNow(): Promise<void> {
    if (this.client) return;
    this.setState("starting");
    const folder = vscode.workspace.workspaceFolders?.[0];
    const config = vscode.workspace.getConfiguration("promptwise", folder);
    const choice = chooseInterpreter({
      setting: config.get<string>("python"),
      pythonExtension: config.get<string>("python") ? undefined : await activePythonInterpreter(folder?.uri, this.log),
      workspaceFolder: folder?.uri.fsPath,
      home: os.homedir(),
      platform: process.platform,
      env: process.env,
    });
    this.interpreter = choice;
    this.log.info(`Interpreter: ${choice.command} (from ${describeSource(choice.source)})`);

    const probe = await probeInterpreter(choice.command, folder?.uri.fsPath);
    if (probe.kind !== "ok") {
      this.setState("failed");
      void this.explainProbeFailure(choice, probe.kind, probe.detail);
      return;
    }
    this.version = probe.version;

    const serverOptions: ServerOptions = {
      command: choice.command,
      args: serverArgs(),
      options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "prompty" },
        { scheme: "untitled", language: "prompty" },
        { scheme: "file", language: "jinja" },
        { scheme: "file", pattern: "**/flow.dag.yaml" },
        { scheme: "file", pattern: "**/flow.flex.yaml" },
        { scheme: "file", pattern: "**/promptwise.yaml" },
        // Python tool files referenced by flows (PW3xx checks).
        { scheme: "file", language: "python" },
      ],
      initializationOptions: initializationOptions(config, folder?.uri.fsPath, choice.command),
      outputChannel: this.log,
      errorHandler: new RestartLimitedErrorHandler(),
      initializationFailedHandler: (error) => {
        this.log.error(`The server failed to initialize: ${String(error)}`);
        return false;
      },
    };
    const client = new PromptwiseLanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    client.onDidChangeState((event) => {
      if (event.newState === State.Running) this.setState("running");
      else if (event.newState === State.Stopped && this.client === client) this.setState("failed");
    });
    this.client = client;
    try {
      await client.start();
      this.log.info(`Promptwise server started (promptwise ${probe.version}, ${choice.command})`);
      this.setState("running");
    } catch (error) {
      this.client = undefined;
      this.setState("failed");
      this.log.error(`The Promptwise server did not start: ${String(error)}`);
      void vscode.window
        .showErrorMessage(
          `Promptwise: the language server did not start with ${choice.command} (${String(error)}). See the Promptwise output for its log.`,
          "Show Log",
        )
        .then((pick) => pick && this.log.show());
    }
  }

  private async stopNow(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5_000);
      } catch (error) {
        this.log.warn(`Stopping the server: ${String(error)}`);
      }
    }
    this.setState("stopped");
  }

  private async explainProbeFailure(choice: InterpreterChoice, kind: string, detail: string): Promise<void> {
    const where = `${choice.command} (from ${describeSource(choice.source)})`;
    if (kind === "missing-package") {
      this.log.error(`${where} has no promptwise package: ${detail}`);
      const spec = await this.installSpecForWorkspace();
      const pick = await vscode.window.showErrorMessage(
        `Promptwise: the Python interpreter ${where} does not have the promptwise package. Install it with "pip install ${spec}" into that interpreter, or choose another interpreter in the promptwise.python setting.`,
        "Install",
        "Open Settings",
      );
      if (pick === "Install") await this.install(choice.command, spec);
      else if (pick === "Open Settings") await openPythonSetting();
      return;
    }
    const message =
      kind === "not-found"
        ? `Promptwise: the Python interpreter ${where} was not found (${detail}). Set promptwise.python to a Python 3.11+ interpreter that has the promptwise package.`
        : `Promptwise: could not check the Python interpreter ${where}: ${detail}. Set promptwise.python to a working Python 3.11+ interpreter.`;
    this.log.error(message);
    const pick = await vscode.window.showErrorMessage(message, "Open Settings", "Show Log");
    if (pick === "Open Settings") await openPythonSetting();
    else if (pick === "Show Log") this.log.show();
  }

  private async install(python: string, spec: string): Promise<void> {
    const ok = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Installing ${spec} into ${python}…` },
      async () => {
        this.log.info(`Running: ${python} ${installArgs(spec).join(" ")}`);
        const outcome = await runProcess(python, installArgs(spec), { timeoutMs: 10 * 60_000 });
        if (outcome.stdout) this.log.info(outcome.stdout.trimEnd());
        if (outcome.stderr) this.log.warn(outcome.stderr.trimEnd());
        return outcome.exitCode === 0 && !outcome.spawnError;
      },
    );
    if (ok) {
      void vscode.window.showInformationMessage(`Promptwise: installed ${spec}; starting the server.`);
      await this.restart();
    } else {
      const pick = await vscode.window.showErrorMessage(
        `Promptwise: "pip install ${spec}" failed in ${python}; the Promptwise output has pip's messages.`,
        "Show Log",
      );
      if (pick) this.log.show();
    }
  }

  /** The Promptwise checkout when the workspace is (inside) one, else the PyPI name. */
  private async installSpecForWorkspace(): Promise<string> {
    const candidates = new Map<string, string>();
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      let directory = folder.uri.fsPath;
      for (let depth = 0; depth < 4; depth++) {
        try {
          const bytes = await vscode.workspace.fs.readFile(vscode.Uri.file(path.join(directory, "pyproject.toml")));
          candidates.set(directory, new TextDecoder().decode(bytes));
        } catch {
          // no pyproject.toml here; look one level up
        }
        const parent = path.dirname(directory);
        if (parent === directory) break;
        directory = parent;
      }
    }
    return installSpec(candidates, SERVER_DISTRIBUTION);
  }
}

/**
 * Settings the server reads at start (team PLAN.md): python, defaultModel, catalogFile; and
 * resultMessages: false, since our panels show results (other editors get window/showMessage).
 */
function initializationOptions(
  config: vscode.WorkspaceConfiguration,
  workspaceFolder: string | undefined,
  python: string,
): { python: string; defaultModel: string | null; catalogFile: string | null; resultMessages: boolean } {
  const catalog = config.get<string>("catalogFile")?.trim();
  const catalogFile = catalog
    ? path.isAbsolute(catalog) || !workspaceFolder
      ? catalog
      : path.join(workspaceFolder, catalog)
    : null;
  return { python, defaultModel: config.get<string>("defaultModel")?.trim() || null, catalogFile, resultMessages: false };
}

function describeSource(source: InterpreterChoice["source"]): string {
  switch (source) {
    case "setting":
      return "the promptwise.python setting";
    case "python-extension":
      return "the Python extension's active interpreter";
    default:
      return "the default, since promptwise.python is empty and the Python extension is absent";
  }
}

async function openPythonSetting(): Promise<void> {
  await vscode.commands.executeCommand("workbench.action.openSettings", "promptwise.python");
}
