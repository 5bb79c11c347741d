// The Deployments view (issue 11 part 4): a tree in the explorer of the registered flows and
// their versions (from the server's `promptwise.deployments`: where each runs, traffic weight,
// live figures, evaluation metrics), with Deploy…, Promote, Shift traffic… and Roll back. The
// actions run the CLI verbs as child processes with the server's interpreter, with progress
// and cancel (cancel kills the process; the CLI writes rollout state atomically).
import { spawn } from "node:child_process";
import * as path from "node:path";
import * as vscode from "vscode";
import { cli, flowRow, outcomeLine, shiftWeights, TARGETS, versionRow, type DeployedFlow, type DeployedVersion, type DeploymentsAnswer } from "./deployTree";
import type { PromptwiseServer } from "./serverClient";

export const DEPLOYMENTS_VIEW = "promptwise.deployments";
const DEPLOYMENTS = "promptwise.deployments";

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

  /** Runs `python -m promptwise ...` with progress; cancel kills it. True when it succeeded. */
  async run(title: string, args: string[]): Promise<boolean> {
    const python = this.server.interpreter?.command ?? "python3";
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(args[4] ?? ".");
    this.server.log.info(`Running: ${python} ${args.join(" ")}`);
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Promptwise: ${title}`, cancellable: true },
      (_progress, token) =>
        new Promise<{ code: number | null; stdout: string; stderr: string; cancelled: boolean }>((resolve) => {
          const child = spawn(python, args, { cwd, env: process.env });
          let stdout = "";
          let stderr = "";
          let cancelled = false;
          child.stdout.on("data", (chunk) => (stdout += String(chunk)));
          child.stderr.on("data", (chunk) => (stderr += String(chunk)));
          const cancel = token.onCancellationRequested(() => {
            cancelled = true;
            child.kill();
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

  async deploy(node?: Node): Promise<void> {
    const flow = await this.pickFlow(node);
    if (!flow) {
      void vscode.window.showWarningMessage("Promptwise: no packaged flow yet: run `promptwise package FLOW` first.");
      return;
    }
    const version = node?.version?.version ?? (await pickVersion(flow, "Deploy which version?"));
    if (!version) return;
    const target = await vscode.window.showQuickPick([...TARGETS], { title: `Deploy ${version} to…` });
    if (!target) return;
    const weight = await vscode.window.showQuickPick(["leave the rollout as it is", "10", "50", "100"], {
      title: `Share of the served traffic (promptwise serve) for ${version}`,
    });
    if (weight === undefined) return;
    if (!(await this.run(`deploy ${version} to ${target}`, cli.deploy(flow, version, target)))) return;
    if (/^\d+$/.test(weight)) {
      try {
        await this.run(`give ${version} ${weight}%`, cli.setWeights(flow, shiftWeights(flow, version, Number(weight))));
      } catch (error) {
        void vscode.window.showErrorMessage(`Promptwise: ${(error as Error).message}`);
      }
    }
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
