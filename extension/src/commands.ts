// The palette and code-lens commands. Each one picks what it needs (flow, dataset, runs),
// calls the server through workspace/executeCommand with progress and a working Cancel, and
// shows the result.
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  batchSummary,
  errorDetail,
  estimateSummary,
  evaluateSummary,
  requestErrorMessage,
  runSummary,
} from "./format";
import {
  batchRunArgs,
  ClientCommand,
  compareRunsArgs,
  estimateCostArgs,
  evaluateArgs,
  isFlowFile,
  lensArguments,
  nearestFirst,
  outcomeKind,
  parseInputs,
  evaluationShown,
  runFlowArgs,
  ServerCommand,
  showRunArgs,
  withWorkDoneToken,
  type BatchRunResult,
  type EvaluateResult,
  type JsonObject,
  type RunFlowResult,
} from "./protocol";
import { ResultsPanel } from "./resultsPanel";
import {
  ADD_FILES_HERE,
  CHOOSE_ANOTHER_FOLDER,
  initFailure,
  initProjectArgs,
  initReport,
  initSummary,
  NEW_PROJECT,
  nonEmptyFolderQuestion,
  PROJECT_TEMPLATES,
} from "./projectTemplates";
import { runProcess } from "./interpreter";
import { runCancellable, type CancellableOutcome, type CancellableProcess } from "./childProcess";
import {
  cancelledSummary,
  COMPARE_MODELS,
  CompareProgress,
  compareModelsArgs,
  compareModelsFailure,
  DEFAULT_MODELS,
  evaluatedRuns,
  modelComparisonSummary,
  parseModelComparison,
  parseModels,
} from "./compareModels";
import type { ResultKind } from "./resultsHtml";
import type { PromptwiseServer } from "./serverClient";

const FLOW_GLOB = "**/{flow.dag.yaml,flow.flex.yaml,*.prompty}";
const DATA_GLOB = "**/*.{jsonl,csv}";
const EXCLUDE_GLOB = "**/{node_modules,.git,.venv,venv,.promptwise,__pycache__}/**";
const RECENT_RUNS_KEY = "promptwise.recentRuns";
const LAST_INPUTS_KEY = "promptwise.lastInputs";
const MAX_RECENT_RUNS = 30;
/** After Cancel, how long to wait for the server to confirm before we stop waiting. */
const CANCEL_GRACE_MS = 5_000;

/** Commands that execute the workspace's Python tools and prompts. */
const RUNS_CODE = new Set<string>([ServerCommand.runFlow, ServerCommand.batchRun, ServerCommand.evaluate]);

interface RecentRun {
  name: string;
  uri?: string;
  kind: string;
  when: number;
}

export function registerCommands(context: vscode.ExtensionContext, server: PromptwiseServer, panel: ResultsPanel): void {
  const commands = new PromptwiseCommands(context, server, panel);
  const register = (id: string, handler: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, handler));
  register(ServerCommand.runFlow, (arg) => commands.runFlow(arg));
  register(ServerCommand.batchRun, (arg) => commands.batchRun(arg));
  register(ServerCommand.evaluate, (arg) => commands.evaluate(arg));
  register(ServerCommand.estimateCost, (arg) => commands.estimateCost(arg));
  register(ServerCommand.compareRuns, (arg) => commands.compareRuns(arg));
  register(ServerCommand.showRun, (arg) => commands.showRun(arg));
  register(ClientCommand.restartServer, () => server.restart());
  register(ClientCommand.showLog, () => server.log.show());
  register(NEW_PROJECT, () => newProject(server));
  register(COMPARE_MODELS, (arg) => commands.compareModels(arg));
  // A comparison still running when the window closes is stopped (as Cancel would), not orphaned.
  context.subscriptions.push({ dispose: () => commands.cancelRunning() });
}

/**
 * "New Promptwise Project…": pick a template and a folder, run `promptwise init` there, open it.
 * A folder that is not empty gets a question: add the files beside what is there (init keeps
 * every existing file) or choose another folder.
 */
async function newProject(server: PromptwiseServer): Promise<void> {
  const picked = await vscode.window.showQuickPick(
    PROJECT_TEMPLATES.map((t) => ({ label: t.label, detail: t.detail, id: t.id })),
    { title: "New Promptwise Project", placeHolder: "Start from which template?" },
  );
  if (!picked) return;
  let folder: vscode.Uri | undefined;
  let force = false;
  for (;;) {
    const folders = await vscode.window.showOpenDialog({
      canSelectFolders: true, canSelectFiles: false, canSelectMany: false,
      defaultUri: folder ? vscode.Uri.joinPath(folder, "..") : vscode.workspace.workspaceFolders?.[0]?.uri,
      openLabel: "Create Project Here", title: "An empty folder for the new project",
    });
    folder = folders?.[0];
    if (!folder) return;
    const names = await folderEntries(folder);
    if (names.length === 0) break;
    const question = nonEmptyFolderQuestion(folder.fsPath, names);
    const choice = await vscode.window.showWarningMessage(question.message, { modal: true, detail: question.detail }, ADD_FILES_HERE, CHOOSE_ANOTHER_FOLDER);
    if (choice === ADD_FILES_HERE) {
      force = true;
      break;
    }
    if (choice !== CHOOSE_ANOTHER_FOLDER) return;
  }
  const python = server.interpreter?.command ?? "python3";
  const args = initProjectArgs(folder.fsPath, picked.id, { force });
  server.log.info(`New project: ${python} ${args.join(" ")}`);
  const outcome = await runProcess(python, args, { cwd: folder.fsPath });
  if (outcome.stderr.trim()) server.log.info(outcome.stderr.trim());
  if (outcome.exitCode !== 0) {
    void vscode.window.showErrorMessage(`Promptwise: could not create the project: ${initFailure(outcome.stderr, outcome.spawnError)}`);
    return;
  }
  const report = initReport(outcome.stdout, outcome.stderr);
  const message = `Promptwise: ${initSummary(picked.label, folder.fsPath, report)}`;
  const notify = report.kept.length || report.warnings.length ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
  // Inside the open workspace the files are there already: open the README; else offer the folder.
  const inWorkspace = vscode.workspace.getWorkspaceFolder(folder) !== undefined;
  const actions = inWorkspace ? ["Open README"] : ["Open Folder", "Add to Workspace"];
  const open = await notify(message, ...actions);
  if (open === "Open README") {
    await vscode.window.showTextDocument(vscode.Uri.joinPath(folder, "README.md"));
  } else if (open === "Open Folder") {
    await vscode.commands.executeCommand("vscode.openFolder", folder);
  } else if (open === "Add to Workspace") {
    vscode.workspace.updateWorkspaceFolders(vscode.workspace.workspaceFolders?.length ?? 0, 0, { uri: folder });
  }
}

/** The names in a folder; none when it does not exist yet (init creates it). */
async function folderEntries(folder: vscode.Uri): Promise<string[]> {
  try {
    return (await vscode.workspace.fs.readDirectory(folder)).map(([name]) => name);
  } catch {
    return [];
  }
}

class PromptwiseCommands {
  /** `promptwise eval --models` processes running now (Compare Models). */
  private readonly running = new Set<CancellableProcess>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly server: PromptwiseServer,
    private readonly panel: ResultsPanel,
  ) {}

  async runFlow(arg: unknown): Promise<RunFlowResult | undefined> {
    const lens = lensArguments(arg);
    const target = await this.targetFlow(arg, "Run which flow or prompt?");
    if (!target) return undefined;
    let inputs: JsonObject | undefined = lens?.inputs as JsonObject | undefined;
    if (!lens) {
      const choice = await this.pickInputs(target);
      if (choice === "cancelled") return undefined;
      inputs = choice;
    }
    const name = path.basename(target.fsPath);
    const result = await this.call<RunFlowResult>(`Running ${name}`, ServerCommand.runFlow, runFlowArgs(target.toString(), inputs, lens));
    if (!result) return undefined;
    this.remember(result.run, target, "run");
    this.show("run", `Run ${result.run ?? ""} · ${name}`, result);
    // The run's trace (issue 10): one click from the notification, as from the results page.
    notifyOutcome(result.status, result.error, runSummary(result), result.run ? { label: "Show Trace", command: "promptwise.showTrace", arg: { run: [result.run], uri: target.toString() } } : undefined);
    return result;
  }

  async batchRun(arg: unknown): Promise<BatchRunResult | undefined> {
    const lens = lensArguments(arg);
    const target = await this.targetFlow(arg, "Batch run which flow or prompt?");
    if (!target) return undefined;
    const data = typeof lens?.data === "string" ? lens.data : await this.pickDataset(target, "Batch run over which dataset?");
    if (!data) return undefined;
    const name = path.basename(target.fsPath);
    const result = await this.call<BatchRunResult>(`Batch running ${name} over ${path.basename(data)}`, ServerCommand.batchRun, batchRunArgs(target.toString(), data));
    if (!result) return undefined;
    this.remember(result.run, target, "batch");
    this.show("batch", `Batch ${result.run ?? ""} · ${name}`, result);
    notifyOutcome(result.status, (result as { error?: unknown }).error, batchSummary(result));
    return result;
  }

  async evaluate(arg: unknown): Promise<EvaluateResult | undefined> {
    const lens = lensArguments(arg);
    const target = await this.targetFlow(arg, "Evaluate which flow or prompt?");
    if (!target) return undefined;
    let source: { data?: string; run?: string } | undefined =
      lens && (typeof lens.data === "string" || typeof lens.run === "string")
        ? { data: lens.data as string | undefined, run: lens.run as string | undefined }
        : undefined;
    if (!source) source = await this.pickEvaluationSource(target);
    if (!source) return undefined;
    const result = await this.call<EvaluateResult>(`Evaluating ${path.basename(target.fsPath)}`, ServerCommand.evaluate, evaluateArgs(target.toString(), source));
    if (!result) return undefined;
    this.remember(result.run, target, "evaluation");
    this.show("evaluation", `Evaluation ${result.run ?? ""} · ${path.basename(target.fsPath)}`, result);
    const outcome = result as { status?: string; error?: unknown };
    notifyOutcome(outcome.status, outcome.error, outcome.error ? `Evaluation failed: ${errorDetail(outcome.error)}` : evaluateSummary(result));
    return result;
  }

  async estimateCost(arg: unknown): Promise<unknown> {
    const lens = lensArguments(arg);
    const target = await this.targetFlow(arg, "Estimate the cost of which flow or prompt?");
    if (!target) return undefined;
    let data: string | undefined = typeof lens?.data === "string" ? lens.data : undefined;
    if (!lens) {
      const pick = await this.pickDataset(target, "Estimate over a dataset, or one call?", { allowNone: "One call with the sample inputs" });
      if (pick === undefined) return undefined;
      data = pick || undefined;
    }
    const result = await this.call<Record<string, unknown>>(`Estimating ${path.basename(target.fsPath)}`, ServerCommand.estimateCost, estimateCostArgs(target.toString(), data), { cancellable: false });
    if (!result) return undefined;
    this.show("estimate", `Estimate · ${path.basename(target.fsPath)}${data ? ` over ${path.basename(data)}` : ""}`, result);
    const summary = estimateSummary(result);
    if (summary) void vscode.window.showInformationMessage(`Promptwise: ${summary}`);
    return result;
  }

  async compareRuns(arg: unknown): Promise<unknown> {
    const lens = lensArguments(arg);
    let names: string[] | undefined = Array.isArray(lens?.runs) ? (lens.runs as string[]) : undefined;
    if (!names) names = await this.pickRuns("Compare which runs? (pick two or more)", true);
    if (!names) return undefined;
    let args;
    try {
      args = compareRunsArgs(names);
    } catch (error) {
      void vscode.window.showErrorMessage(`Promptwise: ${(error as Error).message}`);
      return undefined;
    }
    const result = await this.call<unknown>(`Comparing ${args.runs.join(", ")}`, ServerCommand.compareRuns, args, { cancellable: false });
    if (result !== undefined) this.show("comparison", `Comparison · ${args.runs.join(" vs ")}`, result);
    return result;
  }

  /**
   * "Compare Models…": `promptwise eval FLOW --models A,B --format json` with the server's
   * interpreter (each model's run is a normal stored run), its progress (which model) and a
   * Cancel that stops the process; then its table and recommendation in the results page.
   */
  async compareModels(arg: unknown): Promise<unknown> {
    const target = await this.targetFlow(arg, "Compare models on which flow or prompt?");
    if (!target) return undefined;
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage("Promptwise: Compare Models would run this workspace's code, and the workspace is not trusted. Trust it (Workspaces: Manage Workspace Trust) to run flows.");
      return undefined;
    }
    const typed = await vscode.window.showInputBox({
      title: "Compare Models", prompt: "Models to run the flow and its eval.yaml with (two or more, comma-separated)",
      value: DEFAULT_MODELS,
      validateInput: (text) => { const parsed = parseModels(text); return "error" in parsed ? parsed.error : undefined; },
    });
    if (typed === undefined) return undefined;
    const parsed = parseModels(typed);
    if ("error" in parsed) return undefined;
    const data = await this.pickDataset(target, "Compare the models over which dataset?", { allowNone: "The data eval.yaml names" });
    if (data === undefined) return undefined;
    const python = this.server.interpreter?.command ?? "python3";
    const args = compareModelsArgs(target.fsPath, parsed.models, data || undefined);
    const cwd = vscode.workspace.getWorkspaceFolder(target)?.uri.fsPath ?? path.dirname(target.fsPath);
    const shown = vscode.workspace.asRelativePath(target);
    this.server.log.info(`Compare models: ${python} ${args.join(" ")}`);
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Promptwise: comparing ${parsed.models.join(", ")} on ${path.basename(target.fsPath)}`, cancellable: true },
      (progress, cancelToken): Promise<CancellableOutcome> => {
        const followed = new CompareProgress(parsed.models);
        const child = runCancellable(python, args, {
          cwd,
          onStderrLine: (line) => {
            const update = followed.update(line);
            if (update) progress.report(update);
            else this.server.log.info(line); // the estimate, warnings, errors: not the progress lines
          },
        });
        this.running.add(child);
        const cancelListener = cancelToken.onCancellationRequested(() => {
          progress.report({ message: "cancelling…" });
          this.server.log.info("Compare models: cancel requested; stopping the command");
          child.cancel();
        });
        return child.done.finally(() => {
          cancelListener.dispose();
          this.running.delete(child);
        });
      },
    );
    this.server.log.info(`Compare models: exit ${outcome.exitCode ?? outcome.spawnError}${outcome.cancelled ? " (cancelled)" : ""}`);
    if (outcome.cancelled) {
      void vscode.window.showWarningMessage(`Promptwise: ${cancelledSummary(outcome.stderr)}`);
      return undefined;
    }
    const comparison = parseModelComparison(outcome.stdout);
    if (!comparison) {
      void vscode.window.showErrorMessage(`Promptwise: could not compare the models: ${compareModelsFailure(outcome.stderr, outcome.spawnError)}`, "Show Log")
        .then((pick) => { if (pick) this.server.log.show(); });
      return undefined;
    }
    const runs = evaluatedRuns(comparison);
    for (const run of runs) this.remember(run, target, "evaluation");
    this.show("models", `Models compared · ${shown}`, comparison);
    // A model that could not be run, or nothing to recommend: a warning, the reasons on the page.
    const complete = comparison.recommendation.model !== null && comparison.models.every((m) => m.run);
    const notify = complete ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    const compareLabel = "Compare Runs Row by Row";
    void notify(`Promptwise: ${modelComparisonSummary(comparison)}`, ...(runs.length >= 2 ? [compareLabel] : [])).then((pick) => {
      if (pick === compareLabel) void this.compareRuns({ runs });
    });
    return comparison;
  }

  /** Stops every running Compare Models process (the extension is deactivating). */
  cancelRunning(): void {
    for (const child of this.running) child.cancel();
  }

  async showRun(arg: unknown): Promise<unknown> {
    const lens = lensArguments(arg);
    let run = typeof lens?.run === "string" ? lens.run : undefined;
    if (!run) run = (await this.pickRuns("Show which run?", false))?.[0];
    if (!run) return undefined;
    const result = await this.call<unknown>(`Loading run ${run}`, ServerCommand.showRun, showRunArgs(run, lens), { cancellable: false });
    if (result === undefined) return result;
    // An evaluated run comes back with its evaluation's metrics and rows: show the evaluation page.
    const evaluation = evaluationShown(result);
    if (evaluation) this.show("evaluation", `Evaluation ${evaluation}`, result);
    else this.show("details", `Run ${run}`, result);
    return result;
  }

  /**
   * Runs a server command under a notification with progress. Cancel sends `promptwise.cancel`
   * with the command's work-done token; if the server has not answered a few seconds later we
   * stop waiting, so the notification never hangs.
   */
  private async call<T>(title: string, command: string, args: object, options: { cancellable?: boolean } = {}): Promise<T | undefined> {
    const cancellable = options.cancellable ?? true;
    if (RUNS_CODE.has(command) && !vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage(`Promptwise: ${title} would run this workspace's code, and the workspace is not trusted. Trust it (Workspaces: Manage Workspace Trust) to run flows.`);
      return undefined;
    }
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Promptwise: ${title}`, cancellable },
        async (progress, cancelToken) => {
          const workDoneToken = randomUUID();
          const abandon = new vscode.CancellationTokenSource();
          let lastPercentage = 0;
          const progressListener = this.server.onProgress(workDoneToken, (value) => {
            if (value.kind === "end") return;
            const increment = typeof value.percentage === "number" ? Math.max(0, value.percentage - lastPercentage) : undefined;
            if (typeof value.percentage === "number") lastPercentage = value.percentage;
            progress.report({ message: value.message, increment });
          });
          const cancelListener = cancelToken.onCancellationRequested(() => {
            progress.report({ message: "cancelling…" });
            this.server.log.info(`Cancel requested for ${command} (token ${workDoneToken})`);
            this.server
              .executeCommand(ServerCommand.cancel, { token: workDoneToken })
              .catch((error) => this.server.log.warn(`promptwise.cancel failed: ${String(error)}`));
            setTimeout(() => abandon.cancel(), CANCEL_GRACE_MS);
          });
          try {
            // The token goes in the argument object (where the server reads it) and in the
            // request's workDoneToken (where LSP puts it), so either convention finds it.
            return await this.server.executeCommand<T>(command, withWorkDoneToken(args, workDoneToken), { workDoneToken, token: abandon.token });
          } finally {
            progressListener.dispose();
            cancelListener.dispose();
            abandon.dispose();
          }
        },
      );
    } catch (error) {
      this.server.log.error(`${command} ${JSON.stringify(args)}: ${errorText(error)}`);
      const pick = await vscode.window.showErrorMessage(`Promptwise: ${requestErrorMessage(title, error)}`, "Show Log");
      if (pick) this.server.log.show();
      return undefined;
    }
  }

  private show(kind: ResultKind, title: string, data: unknown): void {
    this.panel.show({ kind, title, data });
  }

  /** The flow file for a command: its argument, the active editor, or a pick from the workspace. */
  private async targetFlow(arg: unknown, prompt: string): Promise<vscode.Uri | undefined> {
    let target: vscode.Uri | undefined;
    const lens = lensArguments(arg);
    if (arg instanceof vscode.Uri) target = arg;
    else if (lens && typeof lens.uri === "string") target = vscode.Uri.parse(lens.uri);
    else {
      const active = vscode.window.activeTextEditor?.document;
      if (active && isFlowFile(active.uri.fsPath)) target = active.uri;
    }
    if (!target) {
      const files = await vscode.workspace.findFiles(FLOW_GLOB, EXCLUDE_GLOB, 200);
      if (files.length === 0) {
        void vscode.window.showErrorMessage("Promptwise: no flow.dag.yaml, flow.flex.yaml or .prompty file in this workspace; open one and run the command again.");
        return undefined;
      }
      if (files.length === 1) target = files[0];
      else {
        const pick = await vscode.window.showQuickPick(
          files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri })),
          { placeHolder: prompt },
        );
        target = pick?.uri;
      }
    }
    if (target) {
      // Runs read the file from disk: save unsaved edits first, as VS Code's own Run does.
      const open = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === target!.toString());
      if (open?.isDirty) await open.save();
    }
    return target;
  }

  /** Sample inputs (the flow's own), or inputs typed as JSON; remembers the last typed ones. */
  private async pickInputs(target: vscode.Uri): Promise<JsonObject | undefined | "cancelled"> {
    const sample = { label: "$(play) Run with the sample inputs", detail: "the inputs' defaults or the prompt's sample" };
    const typed = { label: "$(edit) Enter inputs as JSON…", detail: 'for example {"question": "What is covered?"}' };
    const pick = await vscode.window.showQuickPick([sample, typed], { placeHolder: `Inputs for ${path.basename(target.fsPath)}` });
    if (!pick) return "cancelled";
    if (pick === sample) return undefined;
    const remembered = this.context.workspaceState.get<Record<string, string>>(LAST_INPUTS_KEY, {});
    const text = await vscode.window.showInputBox({
      title: `Inputs for ${path.basename(target.fsPath)}`,
      prompt: "A JSON object of input names to values",
      value: remembered[target.toString()] ?? "{}",
      validateInput: (value) => {
        const parsed = parseInputs(value);
        return "error" in parsed ? parsed.error : undefined;
      },
    });
    if (text === undefined) return "cancelled";
    const parsed = parseInputs(text);
    if ("error" in parsed) return "cancelled";
    await this.context.workspaceState.update(LAST_INPUTS_KEY, { ...remembered, [target.toString()]: text });
    return parsed.inputs;
  }

  /** A dataset path (.jsonl/.csv), nearest to the flow first; "" when `allowNone` was picked. */
  private async pickDataset(target: vscode.Uri, prompt: string, options: { allowNone?: string } = {}): Promise<string | undefined> {
    const flowDir = path.dirname(target.fsPath);
    const found = await vscode.workspace.findFiles(DATA_GLOB, EXCLUDE_GLOB, 500);
    const files = nearestFirst(flowDir, found.map((uri) => uri.fsPath)).map((fsPath) => vscode.Uri.file(fsPath));
    type Item = vscode.QuickPickItem & { value: string | "browse" };
    const items: Item[] = [];
    if (options.allowNone) items.push({ label: options.allowNone, value: "" });
    items.push(...files.map((uri) => ({ label: vscode.workspace.asRelativePath(uri), value: uri.fsPath })));
    items.push({ label: "$(folder-opened) Browse…", value: "browse" });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: prompt });
    if (!pick) return undefined;
    if (pick.value !== "browse") return pick.value;
    const chosen = await vscode.window.showOpenDialog({
      canSelectMany: false,
      defaultUri: vscode.Uri.file(flowDir),
      filters: { "Datasets": ["jsonl", "csv"] },
      openLabel: "Use dataset",
    });
    return chosen?.[0]?.fsPath;
  }

  private async pickEvaluationSource(target: vscode.Uri): Promise<{ data?: string; run?: string } | undefined> {
    const runs = this.recentRuns().filter((run) => run.uri === target.toString() && run.kind !== "evaluation");
    if (runs.length) {
      const items = [
        ...runs.map((run) => ({ label: `$(history) ${run.name}`, description: `${run.kind} · ${new Date(run.when).toLocaleString()}`, run: run.name })),
        { label: "$(database) Evaluate over a dataset…", run: undefined as string | undefined },
      ];
      const pick = await vscode.window.showQuickPick(items, { placeHolder: "Evaluate an existing run, or run over a dataset?" });
      if (!pick) return undefined;
      if (pick.run) return { run: pick.run };
    }
    const data = await this.pickDataset(target, "Evaluate over which dataset?");
    return data ? { data } : undefined;
  }

  /** Runs from this workspace's history, plus free text for any run name the store knows. */
  private async pickRuns(prompt: string, many: boolean): Promise<string[] | undefined> {
    const recent = this.recentRuns();
    if (recent.length === 0) {
      const text = await vscode.window.showInputBox({
        prompt: many ? `${prompt}: run names separated by commas` : `${prompt}: run name`,
        validateInput: (value) => (value.trim() ? undefined : "Type a run name (promptwise runs list shows them)."),
      });
      return text === undefined ? undefined : text.split(/[\s,]+/).filter(Boolean);
    }
    const items = recent.map((run) => ({
      label: run.name,
      description: `${run.kind}${run.uri ? ` · ${vscode.workspace.asRelativePath(vscode.Uri.parse(run.uri))}` : ""}`,
      detail: new Date(run.when).toLocaleString(),
    }));
    if (many) {
      const picks = await vscode.window.showQuickPick(items, { placeHolder: prompt, canPickMany: true });
      return picks?.map((pick) => pick.label);
    }
    const pick = await vscode.window.showQuickPick(items, { placeHolder: prompt });
    return pick ? [pick.label] : undefined;
  }

  private recentRuns(): RecentRun[] {
    return this.context.workspaceState.get<RecentRun[]>(RECENT_RUNS_KEY, []);
  }

  private remember(name: string | undefined, target: vscode.Uri, kind: string): void {
    if (!name) return;
    const runs = [{ name, uri: target.toString(), kind, when: Date.now() }, ...this.recentRuns().filter((run) => run.name !== name)];
    void this.context.workspaceState.update(RECENT_RUNS_KEY, runs.slice(0, MAX_RECENT_RUNS));
  }
}

/** Information for a finished command, a warning when cancelled, an error when it failed. */
function notifyOutcome(status: string | undefined, error: unknown, summary: string, action?: { label: string; command: string; arg: object }): void {
  const kind = outcomeKind(status, error);
  const show = kind === "ok" ? vscode.window.showInformationMessage : kind === "cancelled" ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
  void show(`Promptwise: ${summary}`, ...(action ? [action.label] : [])).then((pick) => {
    if (action && pick === action.label) void vscode.commands.executeCommand(action.command, action.arg);
  });
}

function errorText(error: unknown): string {
  if (error && typeof error === "object" && "message" in error) return String((error as { message: unknown }).message);
  return String(error);
}
