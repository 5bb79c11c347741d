// "Serve Flow Locally": `promptwise serve FLOW --host 127.0.0.1 --port P` in the language
// server's interpreter on a free port (or the promptwise.serve.host / .port settings; `serve`
// refuses another address without API keys, and says so), its URL in the status bar (click: the request panel,
// copy the URL, restart, stop), and a request panel that sends inputs to /score (a chat flow:
// the conversation to /v1/chat/completions) and shows the answer as it streams and the
// request's trace. The extension makes the HTTP requests (the panel's CSP allows no network);
// the process is stopped by "Stop Serving", by serving another flow, and when the window closes
// (the extension deactivates). A server that stops by itself is said, with its last words.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as vscode from "vscode";
import { saveFlowFiles } from "./flowFiles";
import { isOrphan, isRecord, type ServeRecord } from "./serveOrphans";
import { ownGroup, stopDraining } from "./processTree";
import { isFlowFile, lensArguments } from "./protocol";
import { lastWords, requestHost, sendChat, sendScore, type ChatMessage, type SendOutcome } from "./serveClient";
import { chatShape, exampleInputs, needsKey, renderServeHtml, sampleText, type ChatShape } from "./serveHtml";
import type { PromptwiseServer } from "./serverClient";

export const SERVE_FLOW = "promptwise.serveFlow";
export const STOP_SERVING = "promptwise.stopServing";
export const SEND_REQUEST = "promptwise.sendServeRequest";
const SERVE_MENU = "promptwise.serveMenu";
const SERVE_RECORD = "promptwise.serve.running";
const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
// A backstop only: serve ends its own drain after serve.timeout_seconds + 5 s.
const DRAIN_LIMIT_MS = 600_000;
/** A port taken between our probe and `serve` binding it: try a few others. */
const PORT_ATTEMPTS = 3;

interface Served {
  process: ChildProcess;
  url: string;
  flow: vscode.Uri;
  stderr: string[];
  /** Set when we stop it: its exit is then no news. */
  stopping: boolean;
  /** It answered /health: from then on, stopping by itself is news. */
  ready: boolean;
  /** Its output has all been read (after it exited). */
  closed: Promise<void>;
  /** The API key the user gave for a server with serve.keys (memory only, never stored). */
  apiKey?: string;
  needsKey: boolean;
}

/** A free loopback port (the OS picks it; released just before `serve` binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

export class ServeSession implements vscode.Disposable {
  private served: Served | undefined;
  private panel: vscode.WebviewPanel | undefined;
  /** The panel's request in flight, for its Cancel. */
  private inFlight: AbortController | undefined;
  private readonly status = vscode.window.createStatusBarItem("promptwise.serve", vscode.StatusBarAlignment.Left, 50);

  /** `state`: where the server started is recorded, for the next activation if this host dies (serveOrphans.ts). */
  constructor(private readonly server: PromptwiseServer, private readonly state?: vscode.Memento) {
    this.status.name = "Promptwise Serve";
    this.status.command = SERVE_MENU;
    this.stopOrphan();
  }

  /** Stops the server a killed extension host of this workspace left running (see serveOrphans.ts). */
  private stopOrphan(): void {
    const record = this.state?.get<unknown>(SERVE_RECORD);
    if (!isRecord(record)) return;
    if (isOrphan(record)) {
      this.server.log.warn(`Stopping promptwise serve (pid ${record.pid}, port ${record.port}) left running by an editor window that ended without stopping it`);
      try {
        process.kill(record.pid, "SIGTERM"); // it drains and flushes its traces, as on Stop Serving
      } catch {
        // gone meanwhile
      }
    }
    void this.state?.update(SERVE_RECORD, undefined);
  }

  get url(): string | undefined {
    return this.served?.url;
  }

  async serve(arg: unknown): Promise<string | undefined> {
    const flow = this.target(arg);
    if (!flow) {
      void vscode.window.showErrorMessage("Promptwise: open a flow.dag.yaml, flow.flex.yaml or .prompty file to serve it.");
      return undefined;
    }
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage("Promptwise: serving runs this workspace's code, and the workspace is not trusted. Trust it (Workspaces: Manage Workspace Trust) to serve flows.");
      return undefined;
    }
    // The server reads the files: what the editor shows is what it serves.
    await saveFlowFiles(flow, this.server.log);
    await this.stop();
    const config = vscode.workspace.getConfiguration("promptwise");
    const host = config.get<string>("serve.host")?.trim() || HOST;
    const fixedPort = config.get<number>("serve.port") || 0;
    let served: Served | undefined;
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
      served = this.start(flow, host, fixedPort || (await freePort()));
      const ready = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Promptwise: starting ${path.basename(flow.fsPath)} on ${served.url}` },
        () => waitUntilReady(served!.url, served!.process),
      );
      if (ready) {
        served.ready = true;
        break;
      }
      // Its last words arrive after its exit: read them all (or give up after a moment).
      await Promise.race([served.closed, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      const why = lastWords(served.stderr);
      await this.stop();
      const taken = /cannot listen on/.test(why);
      // Someone took the port between our probe and serve's bind: another one, quietly.
      if (taken && !fixedPort && attempt < PORT_ATTEMPTS) continue;
      const hint = taken && fixedPort ? ` Change the promptwise.serve.port setting (0: a free port each time).` : "";
      void vscode.window
        .showErrorMessage(`Promptwise: ${path.basename(flow.fsPath)} could not be served: ${why || "it did not answer /health within 60 s"}${hint}`, "Show Log")
        .then((pick) => pick && this.server.log.show());
      return undefined;
    }
    const port = new URL(served!.url).port;
    this.status.text = `$(radio-tower) ${host}:${port}`;
    const reach = host === HOST ? "" : ` It listens on ${host}: other machines can call it with an API key.`;
    this.status.tooltip = `Promptwise is serving ${vscode.workspace.asRelativePath(flow)} at ${served!.url} (POST /score).${reach} Click for the request panel or to stop.`;
    this.status.show();
    await this.showPanel();
    return served!.url;
  }

  /** Spawns `promptwise serve` on `port`; its output goes to the log and is kept for errors. */
  private start(flow: vscode.Uri, host: string, port: number): Served {
    const python = this.server.interpreter?.command ?? "python3";
    const url = `http://${requestHost(host)}:${port}`;
    const args = ["-m", "promptwise", "serve", flow.fsPath, "--host", host, "--port", String(port)];
    this.server.log.info(`Serving: ${python} ${args.join(" ")}`);
    // Its own process group: a SIGKILL after the grace reaches the span writer children too.
    const child = spawn(python, args, { cwd: path.dirname(flow.fsPath), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" }, ...ownGroup() });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    if (child.pid !== undefined) {
      const record: ServeRecord = { pid: child.pid, port, hostPid: process.pid };
      void this.state?.update(SERVE_RECORD, record);
      void closed.then(() => {
        if ((this.state?.get<ServeRecord>(SERVE_RECORD))?.pid === record.pid) void this.state?.update(SERVE_RECORD, undefined);
      });
    }
    const served: Served = { process: child, url, flow, stderr: [], stopping: false, ready: false, closed, needsKey: false };
    this.served = served;
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split(/\r?\n/)) {
        if (!line.trim()) continue;
        this.server.log.info(`[serve] ${line}`);
        served.stderr = [...served.stderr, line].slice(-20);
      }
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    child.on("error", (error) => served.stderr.push(`${python}: ${error.message}`));
    // "close": after its last output was read, so the reason below is complete.
    child.on("close", (code, signal) => {
      this.server.log.info(`[serve] stopped (${signal ?? `exit ${code}`})`);
      if (this.served !== served) return;
      this.served = undefined;
      this.status.hide();
      if (served.stopping || !served.ready) return;
      // It stopped by itself after it was ready: say so, with its last words, where the user looks.
      const said = lastWords(served.stderr) || (signal === "SIGKILL" ? "it was killed (by another process, or by the system when memory ran out)" : "it said nothing; see the Promptwise output");
      const reason = `The server stopped (${signal ?? `exit code ${code}`}): ${said}`;
      void this.panel?.webview.postMessage({ type: "stopped", reason: `${reason}. Serve the flow again to continue.` });
      void vscode.window.showErrorMessage(`Promptwise: serving ${path.basename(flow.fsPath)} stopped. ${reason}`, "Show Log", "Serve Again").then((pick) => {
        if (pick === "Show Log") this.server.log.show();
        else if (pick === "Serve Again") void this.serve(flow);
      });
    });
    return served;
  }

  async stop(): Promise<void> {
    const served = this.served;
    this.served = undefined;
    this.status.hide();
    this.panel?.dispose();
    if (!served) return;
    served.stopping = true;
    if (served.process.exitCode !== null || served.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => served.process.once("exit", () => resolve()));
    // serve drains: requests in flight finish (up to serve.timeout_seconds + 5 s) and their traces
    // are stored. A stop asked for waits for that; the notification's Cancel forces it.
    const force = stopDraining(served.process, DRAIN_LIMIT_MS);
    const quick = await Promise.race([exited.then(() => true), delay(1_000).then(() => false)]);
    if (quick) return;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Promptwise: stopping the server: finishing the requests in flight (Cancel stops it now)", cancellable: true },
      (_progress, token) => {
        token.onCancellationRequested(force);
        return exited;
      },
    );
  }

  /** Sends inputs (a JSON text) to /score and reports the answer as it streams. */
  send(body: string, onAnswer?: (text: string) => void, signal?: AbortSignal): Promise<SendOutcome> {
    return this.withKey((apiKey, url) => sendScore(url, body, { apiKey, onAnswer, signal }));
  }

  /** Sends the conversation (the new message last) to /v1/chat/completions. */
  chat(messages: ChatMessage[], inputs: Record<string, unknown>, onAnswer?: (text: string) => void, signal?: AbortSignal): Promise<SendOutcome> {
    return this.withKey((apiKey, url) => sendChat(url, messages, inputs, { apiKey, onAnswer, signal }));
  }

  /** Runs a request with the API key (asked for when the server wants one), again once after a 401. */
  private async withKey(request: (apiKey: string | undefined, url: string) => Promise<SendOutcome>): Promise<SendOutcome> {
    const served = this.served;
    if (!served) throw new Error("nothing is being served; run Promptwise: Serve Flow Locally");
    const asked = served.needsKey && !served.apiKey;
    if (asked) served.apiKey = await askForKey();
    let outcome = await request(served.apiKey, served.url);
    // Asked and dismissed: the 401 is the answer (it says a key is needed); else ask (again).
    if (outcome.status === 401 && !(asked && !served.apiKey)) {
      const key = await askForKey(served.apiKey ? "The server did not accept that key." : undefined);
      if (key) {
        served.apiKey = key;
        outcome = await request(key, served.url);
      }
    }
    return outcome;
  }

  /** The status bar item's menu: the panel (after it was closed), the URL, restart, stop. */
  async menu(): Promise<void> {
    const served = this.served;
    if (!served) return;
    const items = [
      { label: "$(window) Open the request panel", run: () => this.showPanel() },
      { label: "$(copy) Copy the URL", description: served.url, run: () => vscode.env.clipboard.writeText(served.url) },
      { label: "$(debug-restart) Restart", description: "serve the flow as it is saved now", run: () => this.serve(served.flow) },
      { label: "$(debug-stop) Stop Serving", run: () => this.stop() },
    ];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: `Serving ${vscode.workspace.asRelativePath(served.flow)} at ${served.url}` });
    await pick?.run();
  }

  /** The flow's OpenAPI document (undefined when it cannot be read). */
  private async openapi(url: string): Promise<unknown> {
    try {
      const response = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(5_000) });
      return response.ok ? await response.json() : undefined;
    } catch {
      return undefined;
    }
  }

  private async showPanel(): Promise<void> {
    const served = this.served;
    if (!served) return;
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    const document = await this.openapi(served.url);
    const chat = chatShape(document);
    served.needsKey = needsKey(document);
    const inputs = exampleInputs(document, chat ? [chat.input, ...(chat.history ? [chat.history] : [])] : []);
    // A flow.dag.yaml is known by its folder's name, as its traces name it.
    const file = path.basename(served.flow.fsPath);
    const flowName = /^flow\.(dag|flex)\.ya?ml$/i.test(file) ? path.basename(path.dirname(served.flow.fsPath)) : file;
    const panel = vscode.window.createWebviewPanel("promptwise.serve", `Serving ${flowName}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }, {
      enableScripts: true,
      localResourceRoots: [],
      retainContextWhenHidden: true,
    });
    this.panel = panel;
    panel.onDidDispose(() => {
      if (this.panel === panel) this.panel = undefined;
      this.inFlight?.abort(); // its answer has nowhere to go: the server stops the flow
    });
    panel.webview.onDidReceiveMessage((message: PanelMessage) => this.answer(panel, served, message, chat));
    const nonce = randomBytes(16).toString("base64");
    const sample = chat ? sampleText(document, chat.input) : undefined;
    panel.webview.html = renderServeHtml({ url: served.url, flowName, inputs, chat, sample, needsKey: served.needsKey }, { nonce, cspSource: panel.webview.cspSource });
  }

  private async answer(panel: vscode.WebviewPanel, served: Served, message: PanelMessage, chat: ChatShape | undefined): Promise<void> {
    if (message?.type === "trace" && typeof message.requestId === "string") {
      void vscode.commands.executeCommand("promptwise.showTrace", { uri: served.flow.toString(), request_id: message.requestId });
      return;
    }
    if (message?.type === "cancel") {
      this.inFlight?.abort();
      return;
    }
    // The panel may be closed while the answer streams: nothing to show it to (and its close cancels).
    const tell = (update: object) => {
      if (this.panel === panel) void panel.webview.postMessage(update).then(undefined, () => undefined);
    };
    const post = (text: string) => tell({ type: "answer", text });
    // Cancel closes the connection: the server cancels the flow and its model call (499, traced).
    const cancel = new AbortController();
    let sending: Promise<SendOutcome> | undefined;
    if (message?.type === "send" && typeof message.body === "string") sending = this.send(message.body, post, cancel.signal);
    else if (message?.type === "chat" && chat && Array.isArray(message.messages)) sending = this.chat(message.messages, message.inputs ?? {}, post, cancel.signal);
    if (!sending) return;
    this.inFlight = cancel;
    try {
      const outcome = await sending;
      tell({ type: "done", text: outcome.text, status: `HTTP ${outcome.status}`, ms: outcome.ms, requestId: outcome.requestId, error: Boolean(outcome.error), reply: outcome.reply });
    } catch (error) {
      let text = this.served === served ? `the request failed: ${String((error as Error)?.message ?? error)}` : "the server is not running any more";
      if (cancel.signal.aborted) text = "cancelled: the server was told (the connection closed), and stops the flow and its model call";
      else if ((error as Error)?.name === "TimeoutError") text = "no answer within 120 s: the request was given up";
      tell({ type: "done", text, status: cancel.signal.aborted ? "cancelled" : "failed", error: true });
    } finally {
      if (this.inFlight === cancel) this.inFlight = undefined;
    }
  }

  private target(arg: unknown): vscode.Uri | undefined {
    if (arg instanceof vscode.Uri) return arg;
    const lens = lensArguments(arg);
    if (lens && typeof lens.uri === "string") return vscode.Uri.parse(lens.uri);
    const active = vscode.window.activeTextEditor?.document;
    return active && isFlowFile(active.uri.fsPath) ? active.uri : undefined;
  }

  dispose(): void {
    // The window closes (or the extension stops): the server must not outlive it.
    const served = this.served;
    this.served = undefined;
    if (served) {
      served.stopping = true;
      stopDraining(served.process, STOP_GRACE_MS); // the window is closing: no time to drain long
    }
    this.panel?.dispose();
    this.status.dispose();
  }
}

interface PanelMessage {
  type?: string;
  body?: string;
  requestId?: string;
  messages?: ChatMessage[];
  inputs?: Record<string, unknown>;
}

async function askForKey(why?: string): Promise<string | undefined> {
  const key = await vscode.window.showInputBox({
    title: "Promptwise: API key for the served flow",
    prompt: `${why ? `${why} ` : ""}This server needs an API key (serve.keys in promptwise.yaml). It is kept in memory until serving stops, never saved.`,
    password: true,
    ignoreFocusOut: true,
  });
  return key?.trim() || undefined;
}

/** Polls /health until it answers 200 (true), the process exits or the time is up (false). */
async function waitUntilReady(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

export function registerServeCommands(context: vscode.ExtensionContext, session: ServeSession): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(SERVE_FLOW, (arg) => session.serve(arg)),
    vscode.commands.registerCommand(STOP_SERVING, () => session.stop()),
    vscode.commands.registerCommand(SERVE_MENU, () => session.menu()),
    // For tests and keybindings: send inputs (a JSON text) to the served flow; returns the outcome.
    vscode.commands.registerCommand(SEND_REQUEST, (body: unknown) => session.send(typeof body === "string" ? body : JSON.stringify(body ?? {}))),
  );
}
