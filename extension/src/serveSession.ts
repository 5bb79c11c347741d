// "Serve Flow Locally": `promptwise serve FLOW --host 127.0.0.1 --port P` in the language
// server's interpreter on a free port, its URL in the status bar (click to stop), and a request
// panel that sends inputs to /score and shows the streamed answer and the request's trace.
// The extension makes the HTTP requests (the panel's CSP allows no network); the process is
// stopped by "Stop Serving", by serving another flow, and when the extension deactivates.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import * as path from "node:path";
import * as vscode from "vscode";
import { isFlowFile, lensArguments } from "./protocol";
import { applyEvent, exampleInputs, parseSseEvents, renderServeHtml } from "./serveHtml";
import type { PromptwiseServer } from "./serverClient";

export const SERVE_FLOW = "promptwise.serveFlow";
export const STOP_SERVING = "promptwise.stopServing";
export const SEND_REQUEST = "promptwise.sendServeRequest";
const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const REQUEST_TIMEOUT_MS = 120_000;

interface Served {
  process: ChildProcess;
  url: string;
  flow: vscode.Uri;
  stderr: string[];
}

export interface SendOutcome {
  status: number;
  text: string;
  requestId: string;
  ms: number;
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
  private readonly status = vscode.window.createStatusBarItem("promptwise.serve", vscode.StatusBarAlignment.Left, 50);

  constructor(private readonly server: PromptwiseServer) {
    this.status.name = "Promptwise Serve";
    this.status.command = STOP_SERVING;
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
    const open = vscode.workspace.textDocuments.find((doc) => doc.uri.toString() === flow.toString());
    if (open?.isDirty) await open.save();
    await this.stop();
    const python = this.server.interpreter?.command ?? "python3";
    const port = await freePort();
    const url = `http://${HOST}:${port}`;
    const args = ["-m", "promptwise", "serve", flow.fsPath, "--host", HOST, "--port", String(port)];
    this.server.log.info(`Serving: ${python} ${args.join(" ")}`);
    const child = spawn(python, args, { cwd: path.dirname(flow.fsPath), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } });
    const served: Served = { process: child, url, flow, stderr: [] };
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
    child.on("exit", (code, signal) => {
      this.server.log.info(`[serve] stopped (${signal ?? `exit ${code}`})`);
      if (this.served === served) {
        this.served = undefined;
        this.status.hide();
      }
    });
    child.on("error", (error) => served.stderr.push(String(error)));
    const ready = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Promptwise: starting ${path.basename(flow.fsPath)} on ${url}` },
      () => waitUntilReady(url, child),
    );
    if (!ready) {
      const why = served.stderr.filter((line) => !line.startsWith("promptwise: serving")).slice(-3).join(" | ") || "it did not answer /health in time";
      await this.stop();
      void vscode.window.showErrorMessage(`Promptwise: the flow could not be served: ${why}`, "Show Log").then((pick) => pick && this.server.log.show());
      return undefined;
    }
    this.status.text = `$(radio-tower) ${HOST}:${port}`;
    this.status.tooltip = `Promptwise is serving ${vscode.workspace.asRelativePath(flow)} at ${url} (POST /score). Click to stop.`;
    this.status.show();
    this.showPanel(await this.exampleInputs(url));
    return url;
  }

  async stop(): Promise<void> {
    const served = this.served;
    this.served = undefined;
    this.status.hide();
    this.panel?.dispose();
    if (!served || served.process.exitCode !== null || served.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => served.process.once("exit", () => resolve()));
    served.process.kill("SIGTERM"); // serve drains in-flight requests and flushes traces
    const timer = setTimeout(() => served.process.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Sends inputs to /score (asking for events) and reports the answer as it streams. */
  async send(body: string, onAnswer: (text: string) => void = () => undefined): Promise<SendOutcome> {
    const served = this.served;
    if (!served) throw new Error("nothing is being served; run Promptwise: Serve Flow Locally");
    const requestId = randomBytes(8).toString("hex");
    const started = Date.now();
    const response = await fetch(`${served.url}/score`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream, application/json", "x-request-id": requestId },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    let text = "";
    if ((response.headers.get("content-type") ?? "").startsWith("text/event-stream") && response.body) {
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        const parsed = parseSseEvents(buffer + decoder.decode(chunk, { stream: true }));
        buffer = parsed.rest;
        for (const event of parsed.events) text = applyEvent(text, event);
        onAnswer(text);
      }
      for (const event of parseSseEvents(buffer + "\n\n").events) text = applyEvent(text, event);
    } else {
      const raw = await response.text();
      try {
        text = JSON.stringify(JSON.parse(raw), null, 2);
      } catch {
        text = raw;
      }
    }
    return { status: response.status, text, requestId: response.headers.get("x-request-id") ?? requestId, ms: Date.now() - started };
  }

  /** The flow's inputs with their defaults, from the server's OpenAPI document ("{}" if it has none). */
  private async exampleInputs(url: string): Promise<string> {
    try {
      const response = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(5_000) });
      return response.ok ? exampleInputs(await response.json()) : "{}";
    } catch {
      return "{}";
    }
  }

  private showPanel(inputs: string): void {
    const served = this.served!;
    // A flow.dag.yaml is known by its folder's name, as its traces name it.
    const file = path.basename(served.flow.fsPath);
    const flowName = /^flow\.(dag|flex)\.ya?ml$/i.test(file) ? path.basename(path.dirname(served.flow.fsPath)) : file;
    this.panel = vscode.window.createWebviewPanel("promptwise.serve", `Serving ${flowName}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false }, {
      enableScripts: true,
      localResourceRoots: [],
      retainContextWhenHidden: true,
    });
    const panel = this.panel;
    panel.onDidDispose(() => {
      if (this.panel === panel) this.panel = undefined;
    });
    panel.webview.onDidReceiveMessage(async (message: { type?: string; body?: string; requestId?: string }) => {
      if (message?.type === "send" && typeof message.body === "string") {
        try {
          const outcome = await this.send(message.body, (text) => void panel.webview.postMessage({ type: "answer", text }));
          void panel.webview.postMessage({ type: "done", text: outcome.text, status: `HTTP ${outcome.status}`, ms: outcome.ms, requestId: outcome.requestId });
        } catch (error) {
          void panel.webview.postMessage({ type: "done", text: String((error as Error)?.message ?? error), status: "failed" });
        }
      } else if (message?.type === "trace" && typeof message.requestId === "string") {
        void vscode.commands.executeCommand("promptwise.showTrace", { uri: served.flow.toString(), request_id: message.requestId });
      }
    });
    const nonce = randomBytes(16).toString("base64");
    panel.webview.html = renderServeHtml({ url: served.url, flowName, inputs }, { nonce, cspSource: panel.webview.cspSource });
  }

  private target(arg: unknown): vscode.Uri | undefined {
    if (arg instanceof vscode.Uri) return arg;
    const lens = lensArguments(arg);
    if (lens && typeof lens.uri === "string") return vscode.Uri.parse(lens.uri);
    const active = vscode.window.activeTextEditor?.document;
    return active && isFlowFile(active.uri.fsPath) ? active.uri : undefined;
  }

  dispose(): void {
    const served = this.served;
    this.served = undefined;
    if (served && served.process.exitCode === null && served.process.signalCode === null) {
      served.process.kill("SIGTERM");
      setTimeout(() => served.process.exitCode === null && served.process.kill("SIGKILL"), STOP_GRACE_MS).unref();
    }
    this.panel?.dispose();
    this.status.dispose();
  }
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
    // For tests and keybindings: send inputs (a JSON text) to the served flow; returns the outcome.
    vscode.commands.registerCommand(SEND_REQUEST, (body: unknown) => session.send(typeof body === "string" ? body : JSON.stringify(body ?? {}))),
  );
}
