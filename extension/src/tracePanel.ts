// The trace view: `promptwise.showTrace` asks the server for a trace (by id, by run and row, or
// a flow's latest) and shows it as a waterfall in one webview panel. A model-call span's
// "Replay" button re-runs that call with the current prompt (or another model) on the server
// and shows old and new side by side.
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { saveFlowFiles } from "./flowFiles";
import { isFlowFile, lensArguments, showTraceAnswer, type JsonObject } from "./protocol";
import { renderReplayHtml, type ReplayResult } from "./traceReplayHtml";
import { renderTraceHtml, type TraceDocument } from "./traceHtml";
import type { PromptwiseServer } from "./serverClient";

export const SHOW_TRACE = "promptwise.showTrace";
/** Lenses are asked for again at most this often while traces keep arriving (a served flow under load). */
const LENS_REFRESH_MS = 2_000;
export const REPLAY_CALL = "promptwise.replayCall";
const REPLAY_MODELS = "promptwise.replayModels";

export class TracePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private replayPanel: vscode.WebviewPanel | undefined;
  private trace: TraceDocument | undefined;
  private flowUri: string | undefined;

  constructor(private readonly server: PromptwiseServer) {}

  /** The command: `arg` is a lens's or a results row's {trace_id | run, row | uri, span_id?}. */
  async showTrace(arg: unknown): Promise<TraceDocument | undefined> {
    const lens = lensArguments(arg);
    let request: JsonObject | undefined = lens ? { ...lens } : undefined;
    if (arg instanceof vscode.Uri) request = { uri: arg.toString() };
    if (!request) {
      const active = vscode.window.activeTextEditor?.document;
      if (active && isFlowFile(active.uri.fsPath)) request = { uri: active.uri.toString() };
    }
    if (!request) {
      const id = await vscode.window.showInputBox({ prompt: "Show which trace? A trace id (promptwise traces list shows them)" });
      if (!id) return undefined;
      request = { trace_id: id.trim() };
    }
    let answer: unknown;
    try {
      answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Promptwise: loading the trace" },
        () => this.server.executeCommand<unknown>(SHOW_TRACE, request!),
      );
    } catch (error) {
      this.server.log.error(`${SHOW_TRACE} ${JSON.stringify(request)}: ${String(error)}`);
      void vscode.window.showErrorMessage(`Promptwise: the trace could not be loaded: ${String((error as Error)?.message ?? error)}`);
      return undefined;
    }
    // A trace whose own status is "error" (a failed request or row) is a trace to show.
    const outcome = showTraceAnswer<TraceDocument>(answer);
    if ("error" in outcome) {
      this.server.log.warn(`${SHOW_TRACE} ${JSON.stringify(request)}: ${outcome.error}; the server answered ${JSON.stringify(answer)?.slice(0, 300)}`);
      void vscode.window.showWarningMessage(`Promptwise: ${outcome.error}`);
      return undefined;
    }
    this.flowUri = typeof request.uri === "string" ? request.uri : undefined;
    this.show(outcome.trace, typeof request.span_id === "string" ? request.span_id : undefined);
    return outcome.trace;
  }

  private show(trace: TraceDocument, focusSpanId?: string): void {
    this.trace = trace;
    const title = `Trace · ${trace.name ?? trace.trace_id.slice(0, 12)}`;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel("promptwise.trace", title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        localResourceRoots: [],
      });
      this.panel.onDidDispose(() => (this.panel = undefined));
      this.panel.webview.onDidReceiveMessage((message: { type?: string; spanId?: string }) => {
        if (message?.type === "replay" && typeof message.spanId === "string") void this.replay(message.spanId);
      });
    }
    this.panel.title = title;
    const nonce = randomBytes(16).toString("base64");
    this.panel.webview.html = renderTraceHtml(trace, { nonce, cspSource: this.panel.webview.cspSource }, focusSpanId);
    this.panel.reveal(undefined, true);
  }

  /** Re-runs one model call with the current prompt file, or with another model the user picks. */
  async replay(spanId: string, choice?: { model?: string }): Promise<ReplayResult | undefined> {
    const trace = this.trace;
    if (!trace) return undefined;
    let model = choice?.model;
    if (!choice) {
      const pick = await vscode.window.showQuickPick(
        [
          { label: "$(play) Same model, current prompt", model: undefined as string | undefined },
          { label: "$(symbol-class) Another model…", model: "?" },
        ],
        { placeHolder: "Replay this model call with the prompt as it is now" },
      );
      if (!pick) return undefined;
      if (pick.model === "?") {
        model = await this.pickModel();
        if (!model) return undefined;
      }
    }
    // "The current prompt" is what the editor shows: the replay reads the flow's files from disk.
    const flow = this.flowUri ? vscode.Uri.parse(this.flowUri) : flowOf(trace);
    if (flow) await saveFlowFiles(flow, this.server.log);
    const args: JsonObject = { trace_id: trace.trace_id, span_id: spanId };
    if (model) args.model = model;
    if (this.flowUri) args.uri = this.flowUri;
    let result: ReplayResult | undefined;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Promptwise: replaying the model call" },
        () => this.server.executeCommand<ReplayResult>(REPLAY_CALL, args),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`Promptwise: the replay failed: ${String((error as Error)?.message ?? error)}`);
      return undefined;
    }
    if (!result || result.status === "error") {
      void vscode.window.showErrorMessage(`Promptwise: ${result?.error ?? "the replay returned nothing"}`);
      return result;
    }
    if (!this.replayPanel) {
      this.replayPanel = vscode.window.createWebviewPanel("promptwise.replay", "Replay", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: false,
        localResourceRoots: [],
      });
      this.replayPanel.onDidDispose(() => (this.replayPanel = undefined));
    }
    const nonce = randomBytes(16).toString("base64");
    this.replayPanel.webview.html = renderReplayHtml(result, { nonce, cspSource: this.replayPanel.webview.cspSource });
    this.replayPanel.reveal(undefined, true);
    return result;
  }

  /** A chat model from the workspace's deployments and the catalog, or one typed in. */
  private async pickModel(): Promise<string | undefined> {
    const models = await this.server
      .executeCommand<Array<{ name: string; detail?: string }>>(REPLAY_MODELS, this.flowUri ? { uri: this.flowUri } : {})
      .catch(() => []);
    const other = { label: "$(edit) Another name…", description: "a deployment or model the catalog does not list" };
    const items = [...(Array.isArray(models) ? models : []).map((m) => ({ label: m.name, description: m.detail })), other];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Replay the call with which model?", matchOnDescription: true });
    if (!pick) return undefined;
    if (pick !== other) return pick.label;
    return (await vscode.window.showInputBox({ prompt: "Model or deployment to call instead (for example gpt-4o)" }))?.trim() || undefined;
  }

  dispose(): void {
    this.panel?.dispose();
    this.replayPanel?.dispose();
  }
}

/** The flow a trace ran (its flow span's `promptwise.flow.path`), if it says. */
function flowOf(trace: TraceDocument): vscode.Uri | undefined {
  const stack = [...(trace.spans ?? [])];
  while (stack.length) {
    const span = stack.pop()!;
    const flowPath = span.attributes?.["promptwise.flow.path"];
    if (typeof flowPath === "string" && flowPath) return vscode.Uri.file(flowPath);
    stack.push(...(span.children ?? []));
  }
  return undefined;
}

export function registerTraceCommands(context: vscode.ExtensionContext, panel: TracePanel): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(SHOW_TRACE, (arg) => panel.showTrace(arg)),
    // For tests and keybindings: replay a span of the trace on screen without the picks.
    vscode.commands.registerCommand(REPLAY_CALL, (arg) => {
      const a = lensArguments(arg);
      return typeof a?.span_id === "string" ? panel.replay(a.span_id, { model: typeof a.model === "string" ? a.model : undefined }) : undefined;
    }),
  );
}

/**
 * Watches the workspace's span stores (`.promptwise/traces.sqlite` and its WAL): when traces are
 * written by something other than this server (a served request, `promptwise run` in a
 * terminal), the "last run" lenses are refreshed within LENS_REFRESH_MS of a write, and not
 * more often than that while writes keep coming.
 */
export function watchTraceStores(server: PromptwiseServer): vscode.Disposable {
  const watcher = vscode.workspace.createFileSystemWatcher("**/.promptwise/traces.sqlite{,-wal}", false, false, true);
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      server.refreshCodeLenses();
    }, LENS_REFRESH_MS);
  };
  const subscriptions = [watcher, watcher.onDidChange(changed), watcher.onDidCreate(changed)];
  return new vscode.Disposable(() => {
    if (timer) clearTimeout(timer);
    subscriptions.forEach((subscription) => subscription.dispose());
  });
}
