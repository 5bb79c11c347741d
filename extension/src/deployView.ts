// The Deployments view (issue 11 part 4): a tree in the explorer of the registered flows and
// their versions (from the server's `promptwise.deployments`: where each runs, traffic weight,
// live figures, evaluation metrics), with Deploy…, Promote, Shift traffic… and Roll back. The
// actions run the CLI verbs as child processes with the server's interpreter, with progress
// and cancel (cancel ends the process tree; the CLI writes rollout state atomically, and a
// deploy shifts traffic last, so a cancelled one leaves the previous version serving).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { askDeploy, cli, flowRow, outcomeLine, shiftWeights, versionRow, type Asker, type DeployedFlow, type DeployedVersion, type DeploymentsAnswer } from "./deployTree";
import { killTree, ownGroup } from "./processTree";
import type { PromptwiseServer } from "./serverClient";

export const DEPLOYMENTS_VIEW = "promptwise.deployments";
const DEPLOYMENTS = "promptwise.deployments";
const KILL_GRACE_MS = 5_000;

type Node = { flow: DeployedFlow; version?: DeployedVersion };

export class DeploymentsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private flows: DeployedFlow[] = [];
  private message: string | undefined;

  constructor(private readonly server: PromptwiseServer) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const row = node.version ? versionRow(node.version) : flowRow(node.flow);
    const item = new vscode.TreeItem(row.label, node.version ? vscode.TreeItemCollapsibleState.None : vscode.TreeItemCollapsibleState.Expanded);
    item.description = row.description;
    item.tooltip = row.tooltip;
    item.contextValue = row.contextValue;
    item.iconPath = new vscode.ThemeIcon(node.version ? (node.version.weight ? "pulse" : "package") : "rocket");
    return item;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node) return node.version ? [] : node.flow.versions.map((version) => ({ flow: node.flow, version }));
    let answer: DeploymentsAnswer | undefined;
    try {
      answer = await this.server.executeCommand<DeploymentsAnswer>(DEPLOYMENTS, {});
    } catch (error) {
      this.server.log.error(`${DEPLOYMENTS}: ${String(error)}`);
      answer = { status: "error", error: String((error as Error)?.message ?? error) };
    }
    this.flows = answer?.status === "ok" ? answer.flows ?? [] : [];
    this.message = answer?.status === "ok" ? undefined : answer?.error;
    if (this.message) void vscode.window.showWarningMessage(`Promptwise deployments: ${this.message}`);
    return this.flows.map((flow) => ({ flow }));
  }

  /**
   * Runs `python -m promptwise ...` in `cwd` with a cancellable progress notification that shows
   * the CLI's progress lines; cancel ends the whole process tree (a deploy's docker or kubectl
   * children too). True when it succeeded.
   */
  async run(title: string, args: string[], cwd?: string): Promise<boolean> {
    const python = this.server.interpreter?.command ?? "python3";
    const folder = cwd ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(args[4] ?? ".");
    this.server.log.info(`Running: ${python} ${args.join(" ")}`);
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Promptwise: ${title}`, cancellable: true },
      (progress, token) =>
        new Promise<{ code: number | null; stdout: string; stderr: string; cancelled: boolean }>((resolve) => {
          // Its own process group (POSIX), so cancel reaches the children it starts.
          const child = spawn(python, args, { cwd: folder, env: process.env, ...ownGroup() });
          let stdout = "";
          let stderr = "";
          let cancelled = false;
          child.stdout.on("data", (chunk) => (stdout += String(chunk)));
          child.stderr.on("data", (chunk) => {
            stderr += String(chunk);
            // "promptwise: rendering the manifests" -> the notification's message.
            const lines = stderr.split(/\r?\n/).filter((line) => line.startsWith("promptwise: "));
            if (lines.length) progress.report({ message: lines[lines.length - 1].slice("promptwise: ".length) });
          });
          const cancel = token.onCancellationRequested(() => {
            cancelled = true;
            killTree(child, KILL_GRACE_MS);
          });
          child.on("error", (error) => {
            cancel.dispose();
            resolve({ code: null, stdout, stderr: `${stderr}\nerror: ${error.message}`, cancelled });
          });
          child.on("close", (code) => {
            cancel.dispose();
            resolve({ code, stdout, stderr, cancelled });
          });
        }),
    );
    this.server.log.info(`${title}: exit ${outcome.code}\n${outcome.stdout}${outcome.stderr}`);
    this.refresh();
    if (outcome.cancelled) {
      void vscode.window.showWarningMessage(`Promptwise: ${title} cancelled.`);
      return false;
    }
    const line = outcomeLine(outcome.stdout, outcome.stderr);
    if (outcome.code === 0) {
      void vscode.window.showInformationMessage(`Promptwise: ${title}: ${line || "done"}`);
      return true;
    }
    void vscode.window.showErrorMessage(`Promptwise: ${title} failed: ${line || `exit ${outcome.code}`}`);
    return false;
  }

  async pickFlow(node?: Node): Promise<DeployedFlow | undefined> {
    if (node) return node.flow;
    if (!this.flows.length) await this.getChildren();
    if (this.flows.length <= 1) return this.flows[0];
    const pick = await vscode.window.showQuickPick(this.flows.map((flow) => ({ label: flow.name, description: flow.source, flow })), { title: "Which flow?" });
    return pick?.flow;
  }

  async promote(node?: Node): Promise<void> {
    const flow = await this.pickFlow(node);
    const version = node?.version?.version ?? (flow && (await pickVersion(flow, "Promote which version to 100%?")));
    if (flow && version) await this.run(`promote ${version}`, cli.promote(flow, version));
  }

  async shiftTraffic(node?: Node): Promise<void> {
    const flow = await this.pickFlow(node);
    const version = node?.version?.version ?? (flow && (await pickVersion(flow, "Shift traffic to which version?")));
    if (!flow || !version) return;
    const text = await vscode.window.showInputBox({
      title: `Traffic for ${version}`,
      prompt: "Percent of the served traffic (0-100); the versions serving now share the rest",
      value: "10",
      validateInput: (value) => (/^\d{1,3}$/.test(value.trim()) && Number(value) <= 100 ? undefined : "a whole percent 0-100"),
    });
    if (text === undefined) return;
    let weights: Record<string, number>;
    try {
      weights = shiftWeights(flow, version, Number(text.trim()));
    } catch (error) {
      void vscode.window.showErrorMessage(`Promptwise: ${(error as Error).message}`);
      return;
    }
    await this.run(`shift traffic (${Object.entries(weights).map(([v, w]) => `${v} ${w}%`).join(", ")})`, cli.setWeights(flow, weights));
  }

  async rollBack(node?: Node): Promise<void> {
    const flow = await this.pickFlow(node);
    if (!flow) return;
    const sure = await vscode.window.showWarningMessage(`Roll ${flow.name}'s rollout back to its previous weights?`, { modal: true }, "Roll Back");
    if (sure === "Roll Back") await this.run(`roll back ${flow.name}`, cli.rollback(flow));
  }

  /** Deploy…: version, target, weight, image, now or --out; then `promptwise deploy` with progress. */
  async deploy(node?: Node): Promise<void> {
    const flow = await this.pickFlow(node);
    if (!flow || !flow.versions.length) {
      void vscode.window.showWarningMessage("Promptwise: no packaged flow yet: run `promptwise package FLOW` first.");
      return;
    }
    const folder = (vscode.workspace.getWorkspaceFolder(vscode.Uri.file(flow.source)) ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
    const resolveOut = (text: string) => path.resolve(folder ?? path.dirname(flow.source), text);
    const choice = await askDeploy(flow, vscodeAsker, { version: node?.version?.version, outError: (text) => outFolderError(resolveOut(text)) });
    if (!choice) return;
    if (choice.out) choice.out = resolveOut(choice.out);
    const share = choice.weight !== undefined ? ` at ${choice.weight}%` : "";
    await this.run(`deploy ${choice.version} to ${choice.target}${share}`, cli.deploy(flow, choice), folder);
  }

  dispose(): void {
    this.changed.dispose();
  }
}

async function pickVersion(flow: DeployedFlow, title: string): Promise<string | undefined> {
  const pick = await vscode.window.showQuickPick(
    flow.versions.map((version) => ({ label: version.version, description: versionRow(version).description })),
    { title },
  );
  return pick?.label;
}

/** Deploy…'s questions asked with a quick pick and an input box. */
const vscodeAsker: Asker = {
  async pick(items, title) {
    return vscode.window.showQuickPick(items, { title, ignoreFocusOut: true });
  },
  async input({ title, prompt, value, validate }) {
    return vscode.window.showInputBox({ title, prompt, value, validateInput: validate, ignoreFocusOut: true });
  },
};

/** --out must be new or an empty folder (the CLI refuses anything else): said while typing. */
function outFolderError(folder: string): string | undefined {
  try {
    if (!fs.statSync(folder).isDirectory()) return `${folder} is a file: give a new or empty folder`;
    return fs.readdirSync(folder).length ? `${folder} is not empty: give a new or empty folder` : undefined;
  } catch {
    return undefined; // does not exist yet: deploy creates it
  }
}

export function registerDeploymentCommands(context: vscode.ExtensionContext, view: DeploymentsView): void {
  context.subscriptions.push(
    vscode.window.createTreeView(DEPLOYMENTS_VIEW, { treeDataProvider: view, showCollapseAll: true }),
    vscode.commands.registerCommand("promptwise.deployments.refresh", () => view.refresh()),
    vscode.commands.registerCommand("promptwise.deployments.deploy", (node?: Node) => view.deploy(node)),
    vscode.commands.registerCommand("promptwise.deployments.promote", (node?: Node) => view.promote(node)),
    vscode.commands.registerCommand("promptwise.deployments.shiftTraffic", (node?: Node) => view.shiftTraffic(node)),
    vscode.commands.registerCommand("promptwise.deployments.rollBack", (node?: Node) => view.rollBack(node)),
  );
}
