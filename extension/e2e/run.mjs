// End-to-end tests of the extension in a real VS Code: code-server 4.100.3 driven by
// playwright-core and Debian's chromium. Each step saves a screenshot under
// test-results/e2e/; a failed step also saves the page text and the VS Code logs.
//
// Usage: node extension/e2e/run.mjs   (from the repository root; `npm run test:e2e`)
// Env:   PROMPTWISE_E2E_HOME   where setup.sh installs code-server (default ~/.cache/promptwise-e2e)
//        PROMPTWISE_E2E_PYTHON the interpreter for promptwise.python (default <repo>/.venv/bin/python)
//        PROMPTWISE_E2E_STEPS  a regex: run only the steps whose names match
//        PROMPTWISE_E2E_KEEP=1 keep the temporary workspace and profile for inspection
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const results = path.join(repo, "test-results", "e2e");
const python = process.env.PROMPTWISE_E2E_PYTHON || path.join(repo, ".venv", "bin", "python");
const STEP_TIMEOUT_MS = 90_000;
// The reference the broken copy of log-triage points at: a node that does not exist.
const BROKEN_NODE = "classfy";
const FAKE_LATENCY_MS = 400;
// Its folder: a name Quick Open cannot confuse with log-triage.
const BROKEN_FOLDER = "broken-triage";
// A chat prompty the request panel chats with (the fake model echoes the last user message).
const CHAT_FOLDER = "chat-assistant";
const CHAT_PROMPTY = [
  "---",
  "name: Chat assistant",
  "model:",
  "  api: chat",
  "  configuration: {type: openai, connection: local}",
  "  parameters: {max_tokens: 60}",
  "inputs:",
  "  question: {type: string}",
  "  chat_history: {type: list, default: []}",
  "sample:",
  "  question: What is the capital of France?",
  "---",
  "system:",
  "You answer briefly.",
  "{% for turn in chat_history %}",
  "{{turn.role}}:",
  "{{turn.content}}",
  "{% endfor %}",
  "user:",
  "{{question}}",
  "",
].join("\n");

const children = [];
/** Content-security-policy violations reported by any frame (results panel checks). */
const cspViolations = [];
let tmp;
/** The chromium playwright drives (closed by main, or by cleanUp on a signal). */
let browser;
/** Set by a signal: the remaining steps are not started. */
let interrupted = false;

function log(message) {
  process.stdout.write(`e2e: ${message}\n`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a child process in its own process group, so cleanup ends it and its children. */
function startProcess(command, args, options) {
  const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the whole group is gone already
  }
}

/**
 * Ends every process group we started: SIGTERM, up to 5 s for its leader to exit, then SIGKILL
 * for whatever of the group outlived it (code-server's extension host, the language server, a
 * `promptwise serve` it started), so that no run leaves a process behind.
 */
async function stopAll() {
  await Promise.all(children.splice(0).map(async (child) => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      signalGroup(child, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    }
    signalGroup(child, "SIGKILL");
  }));
}

async function waitForHttp(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
      lastError = new Error(`HTTP ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s: ${lastError}`);
}

/** The fake OpenAI-compatible server (promptwise.devtools.fake_openai) prints its base URL first. */
async function startFakeOpenAI() {
  const port = await freePort();
  // The scripted model the example flows ship for offline runs (flows/fake-llm-rules.yaml).
  const rules = path.join(repo, "flows", "fake-llm-rules.yaml");
  // Latency makes a 64-row batch last long enough to be cancelled from its progress notification.
  const args = ["-m", "promptwise.devtools.fake_openai", "--port", String(port), "--rules", rules, "--latency-ms", String(FAKE_LATENCY_MS)];
  const child = startProcess(python, args, { cwd: repo });
  const baseUrl = await new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`fake_openai printed no URL in 30 s; stderr: ${err}`)), 30_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const line = out.split("\n")[0];
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("exit", (code) => reject(new Error(`fake_openai exited with ${code}: ${err}`)));
  });
  log(`fake OpenAI server at ${baseUrl}`);
  return baseUrl;
}

/** A temporary copy of flows/ with one extra flow whose reference is broken. */
function makeWorkspace() {
  const workspace = path.join(tmp, "flows");
  fs.cpSync(path.join(repo, "flows"), workspace, {
    recursive: true,
    filter: (source) => !/[\\/](\.promptwise|__pycache__)$/.test(source),
  });
  const broken = path.join(workspace, BROKEN_FOLDER);
  fs.cpSync(path.join(workspace, "log-triage"), broken, { recursive: true });
  const flowFile = path.join(broken, "flow.dag.yaml");
  const text = fs.readFileSync(flowFile, "utf8");
  const brokenText = text.replace("llm_output: ${classify.output}", `llm_output: \${${BROKEN_NODE}.output}`);
  if (brokenText === text) throw new Error("could not break the reference in log-triage/flow.dag.yaml: `llm_output: ${classify.output}` not found");
  fs.writeFileSync(flowFile, brokenText);
  fs.mkdirSync(path.join(workspace, CHAT_FOLDER));
  fs.writeFileSync(path.join(workspace, CHAT_FOLDER, "chat.prompty"), CHAT_PROMPTY);
  return workspace;
}

function userSettings(overrides = {}) {
  return {
    "promptwise.python": python,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "editor.codeLens": true,
    "files.autoSave": "off",
    "chat.disableAIFeatures": true,
    "window.commandCenter": false,
    ...overrides,
  };
}

function writeUserSettings(userDataDir) {
  const settings = userSettings();
  fs.mkdirSync(path.join(userDataDir, "User"), { recursive: true });
  fs.writeFileSync(path.join(userDataDir, "User", "settings.json"), JSON.stringify(settings, null, 2));
}

function buildVsix() {
  log("building the .vsix (npm run package)");
  const output = fs.openSync(path.join(results, "package.log"), "w");
  try {
    execFileSync("npm", ["run", "--silent", "package"], { cwd: repo, stdio: ["ignore", output, output] });
  } catch {
    throw new Error(`npm run package failed; see ${path.relative(repo, results)}/package.log`);
  } finally {
    fs.closeSync(output);
  }
  return path.join(repo, "extension", "dist", "promptwise.vsix");
}

function setupCodeServer() {
  const output = execFileSync("bash", [path.join(here, "setup.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return output.trim().split("\n").pop();
}

// ---- driving VS Code --------------------------------------------------------------------

async function runCommand(page, title) {
  const input = page.locator(".quick-input-widget input");
  // F1 can land while focus sits in a widget that swallows it, and a webview that finishes loading
  // (a results page the step before opened) can take the focus and close the palette before the
  // title is typed: open it and type again, a few times.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press("F1");
    try {
      await input.waitFor({ state: "visible", timeout: 5_000 });
      await input.fill(`>${title}`, { timeout: 5_000 });
      break;
    } catch (error) {
      if (attempt === 4) throw error;
      await page.keyboard.press("Escape");
    }
  }
  // Enter runs the focused row: wait until the filter has made it this command. (A recently used
  // command is on screen before the filter applies, and Enter then ran the list's first row.)
  try {
    await page.waitForFunction(
      (wanted) => {
        const label = document.querySelector(".quick-input-list .monaco-list-row.focused .label-name")?.textContent?.trim() ?? "";
        // Some titles go on in brackets: "View: Focus Problems (Errors, Warnings, Infos)".
        return label === wanted || label.startsWith(`${wanted} (`);
      },
      title,
      { timeout: 30_000 },
    );
  } catch {
    const focused = await page.locator(".quick-input-list .monaco-list-row.focused").first().innerText().catch(() => "none");
    throw new Error(`the command palette did not focus "${title}" (focused: ${focused.replace(/\s+/g, " ")})`);
  }
  await page.keyboard.press("Enter");
}

async function openFile(page, relativePath) {
  const folder = path.dirname(relativePath);
  const name = path.basename(relativePath);
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(relativePath);
  // Quick Open matches fuzzily: choose the row whose folder is exactly the one asked for.
  const row = page.locator(".quick-input-list .monaco-list-row", {
    has: page.locator(".label-description", { hasText: new RegExp(`^${folder.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }),
  }).filter({ hasText: name }).first();
  await row.waitFor({ state: "visible" });
  await row.click();
  await page.waitForFunction(
    ([dir, file]) => {
      const crumbs = [...document.querySelectorAll(".editor-group-container.active .monaco-breadcrumbs .monaco-breadcrumb-item")].map((e) => e.textContent.trim());
      return dir.split("/").every((part) => crumbs.includes(part)) && crumbs.includes(file);
    },
    [folder, name],
    { timeout: 15_000 },
  );
}

async function waitForServerRunning(page) {
  await page.waitForFunction(
    () => [...document.querySelectorAll('.statusbar-item [aria-label^="Promptwise server"]')].some((e) => / running /.test(e.getAttribute("aria-label") ?? "")),
    undefined,
    { timeout: STEP_TIMEOUT_MS },
  );
}

/** Waits until code-server's remote (machine) settings.json gives `id` the value typed. */
async function waitForRemoteSetting(id, value, timeoutMs = 20_000) {
  const file = path.join(tmp, "user-data", "Machine", "settings.json");
  const deadline = Date.now() + timeoutMs;
  let seen;
  for (;;) {
    try {
      // settings.json may hold comments; ours never has, and a half-written file is read again.
      seen = JSON.parse(fs.readFileSync(file, "utf8"))[id];
      if (String(seen) === value) return;
    } catch {
      // not written yet, or being written
    }
    if (Date.now() > deadline) throw new Error(`the Settings editor did not write ${id} = ${value} to ${file} (it holds ${JSON.stringify(seen)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Changes a user setting as a user would: in the Settings editor. */
async function setUserSetting(page, id, value) {
  await runCommand(page, "Notifications: Clear All Notifications");
  await runCommand(page, "View: Close All Editors");
  await runCommand(page, "Preferences: Open User Settings");
  const editor = page.locator(".settings-editor:visible");
  // code-server is a remote window: machine-scoped settings (promptwise.python) live in the Remote tab.
  await editor.locator(".settings-tabs-widget .action-label", { hasText: "Remote" }).first().click();
  const search = editor.locator(".suggest-input-container textarea:visible").first();
  await search.waitFor({ state: "visible" });
  await search.fill(id);
  const input = editor.locator(`[data-key="${id}"] input:visible`).first();
  await input.waitFor({ state: "visible" });
  await input.fill(value);
  // The Settings editor writes the Remote tab's settings.json after a debounce (later under
  // load): wait until the file holds the value before closing the editor.
  await waitForRemoteSetting(id, value);
  await page.keyboard.press("Escape");
  await runCommand(page, "View: Close All Editors");
}

/** The notification toasts on screen, for a failure message (a warning there says why). */
async function notificationTexts(page) {
  const texts = await page.locator(".notification-toast").allInnerTexts().catch(() => []);
  return texts.map((text) => text.replace(/\s+/g, " ").trim()).join(" | ") || "no notification";
}

function assertNoCspViolations() {
  if (cspViolations.length) throw new Error(`content security policy violations: ${cspViolations.join(" | ")}`);
}

/** 1-based number of the first line of `file` matching `pattern`. */
function lineOf(file, pattern) {
  const index = fs.readFileSync(file, "utf8").split("\n").findIndex((line) => pattern.test(line));
  if (index < 0) throw new Error(`${file} has no line matching ${pattern}`);
  return index + 1;
}

async function goToLine(page, line) {
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`:${line}`);
  await page.keyboard.press("Enter");
}

/** Finds text in any frame, webviews included (they are nested iframes). */
async function frameWithSelector(page, selector, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      try {
        if (await frame.locator(selector).count()) return frame;
      } catch {
        // frame navigated or detached while we looked
      }
    }
    await page.waitForTimeout(500);
  }
  return undefined;
}

// ---- the rollout a Deployments step drives --------------------------------------------------

const ROLLOUT_FLOW = "rollout-demo";

/** A prompty whose two packaged versions differ in their prompt, each version's text naming it. */
function rolloutPrompty(word) {
  return [
    "---",
    "name: Rollout demo",
    "model:",
    "  api: chat",
    "  configuration: {type: openai, model: gpt-4o-mini, base_url: '${env:PROMPTWISE_BASE_URL}', api_key: '${env:OPENAI_API_KEY}'}",
    "inputs:",
    "  question: {type: string, default: hello}",
    "---",
    "user:",
    `${word} {{question}}`,
    "",
  ].join("\n");
}

/**
 * Packages rollout-demo.prompty twice (v1, v2), serves v1 with `promptwise serve` and returns a
 * handle that says which version answers and waits until the server has applied new weights.
 */
async function serveTwoVersions(workspace, env) {
  const flow = path.join(workspace, `${ROLLOUT_FLOW}.prompty`);
  const promptwise = (...args) => execFileSync(python, ["-m", "promptwise", ...args], { cwd: workspace, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  for (const word of ["ALPHA", "BETA"]) {
    fs.writeFileSync(flow, rolloutPrompty(word));
    promptwise("package", flow, "--format", "json");
  }
  promptwise("rollout", "set", flow, `${ROLLOUT_FLOW}:v1=100`);
  // A port found free can be taken before serve binds it (code-server starts meanwhile, on a port
  // found free the same way): serve then exits at once, and another port is tried.
  let child, url, output;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    child = startProcess(python, ["-m", "promptwise", "serve", flow, "--port", String(port)], { cwd: workspace, env });
    output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    url = `http://127.0.0.1:${port}`;
    const exited = new Promise((resolve) => child.once("exit", () => resolve("exited")));
    const up = waitForHttp(`${url}/health`, 60_000).then(() => "up");
    up.catch(() => undefined);
    if ((await Promise.race([up, exited])) === "up") break;
    if (attempt === 3) throw new Error(`promptwise serve exited before answering three times; its log ends: ${output.slice(-600)}`);
  }
  const answeredBy = async () => {
    const response = await fetch(`${url}/score`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ question: "hi" }) });
    if (response.status !== 200) throw new Error(`POST /score answered ${response.status}: ${await response.text()}`);
    return response.headers.get("x-promptwise-version");
  };
  return {
    flow,
    child,
    answeredBy,
    /** Waits (driving requests: the server checks its rollout on the request path) for "rollout now <weights>". */
    async applied(weights, timeoutMs = 30_000) {
      const line = `rollout now ${weights}`;
      const before = output.split(line).length - 1;
      const deadline = Date.now() + timeoutMs;
      while (output.split(line).length - 1 === before) {
        if (Date.now() > deadline) throw new Error(`the server did not apply "${weights}"; its log ends: ${output.slice(-600)}`);
        await answeredBy();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // 16 requests at once: at 50/50 all land on one version once in 30,000 runs.
      const seen = new Set(await Promise.all(Array.from({ length: 16 }, answeredBy)));
      return [...seen].sort();
    },
  };
}

/** The Deployments view's row of `label` (a flow name or a version such as "v2"). */
async function deploymentRow(page, label) {
  const pane = page.locator(".pane", { has: page.locator(".pane-header", { hasText: "Promptwise Deployments" }) });
  if (!(await pane.locator(".pane-body").isVisible())) await pane.locator(".pane-header").click();
  const row = pane.locator(".monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${label}$`) }) }).first();
  await row.waitFor({ state: "visible", timeout: 20_000 });
  return row;
}

/** Right-click a row of the Deployments view and choose `action` from its context menu. */
async function deploymentAction(page, label, action) {
  const row = await deploymentRow(page, label);
  await row.click({ button: "right" });
  const menu = page.locator(".monaco-menu").first();
  const item = menu.locator(".action-item", { hasText: action }).first();
  await item.waitFor({ state: "visible" });
  await item.hover();
  await item.click();
  // A tree refresh while the menu opens can swallow the click: the hovered item takes Enter.
  try {
    await menu.waitFor({ state: "hidden", timeout: 2_000 });
  } catch {
    await page.keyboard.press("Enter");
    await menu.waitFor({ state: "hidden", timeout: 5_000 });
  }
}

/** Answers the open quick pick whose title contains `title` with its row `label`. */
async function answerPick(page, title, label) {
  await page.locator(".quick-input-widget .quick-input-title", { hasText: title }).waitFor({ state: "visible" });
  const row = page.locator(".quick-input-list .monaco-list-row", { has: page.locator(".label-name", { hasText: label }) }).first();
  await row.waitFor({ state: "visible" });
  await row.click();
}

/** Answers the open input box whose title contains `title`: `value`, or its offered value when none. */
async function answerInput(page, title, value) {
  await page.locator(".quick-input-widget .quick-input-title", { hasText: title }).waitFor({ state: "visible" });
  if (value !== undefined) await page.locator(".quick-input-widget input").fill(value);
  await page.keyboard.press("Enter");
}

// ---- Compare Models and New Project helpers ---------------------------------------------------

/** Pids of the running processes whose arguments pass `test` (from /proc). */
function pidsWhere(test) {
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args;
    try {
      args = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // ended while we looked
    }
    if (test(args)) pids.push(Number(entry));
  }
  return pids;
}

/** Pids of running `python -m promptwise eval ... --models ...` processes. */
function compareModelsPids() {
  return pidsWhere((args) => args.includes("promptwise") && args.includes("eval") && args.includes("--models"));
}

/** Pids of this run's VS Code extension hosts (their environment names this run's code-server config). */
function extensionHostPids() {
  return pidsWhere((args) => args.some((arg) => arg.includes("extensionHost"))).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(`CODE_SERVER_CONFIG=${path.join(tmp, "code-server.yaml")}`);
    } catch {
      return false;
    }
  });
}

/** Pids of the `python -m promptwise serve FILE ... --port PORT` the editor started. */
function servePids(file, port) {
  return pidsWhere((args) => args.includes("serve") && args.some((arg) => arg.endsWith(file)) && args.includes(String(port)));
}

/** Starts "Compare Models…" on log-triage with `models` over `data` (in log-triage/); returns its progress toast. */
async function startCompareModels(page, models, data = "data.jsonl") {
  await runCommand(page, "Notifications: Clear All Notifications");
  // From the flow's editor (a results page left focused would leave no active editor).
  await runCommand(page, "View: Close All Editors");
  await openFile(page, "log-triage/flow.dag.yaml");
  await runCommand(page, "Promptwise: Compare Models…");
  // With no flow editor active the command asks for the flow first.
  const flowPick = page.locator(".quick-input-widget input[placeholder='Compare models on which flow or prompt?']");
  const modelsBox = page.locator(".quick-input-widget .quick-input-title", { hasText: "Compare Models" });
  try {
    await flowPick.or(modelsBox).first().waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
  } catch {
    const shown = await page.locator(".quick-input-widget:visible").innerText().catch(() => "no quick input");
    throw new Error(`Compare Models… asked neither for the flow nor for the models (shown: ${shown.replace(/\s+/g, " ").slice(0, 200)})`);
  }
  if (await flowPick.isVisible()) {
    await page.locator(".quick-input-list .monaco-list-row", { hasText: "log-triage/flow.dag.yaml" }).first().click();
  }
  await answerInput(page, "Compare Models", models.join(", "));
  const dataset = page.locator(".quick-input-list .monaco-list-row", { hasText: `log-triage/${data}` }).first();
  await dataset.waitFor({ state: "visible" });
  await dataset.click();
  const progress = page.locator(".notification-toast", { hasText: `Promptwise: comparing ${models.join(", ")} on flow.dag.yaml` }).first();
  await progress.waitFor({ state: "visible" });
  return progress;
}

/** Answers VS Code's own (simple) folder dialog with `folder`, an existing folder. */
async function answerFolderDialog(page, folder) {
  const widget = page.locator(".quick-input-widget");
  await widget.locator(".quick-input-title", { hasText: "An empty folder for the new project" }).waitFor({ state: "visible" });
  const input = widget.locator("input");
  // With a trailing separator the dialog lists the folder; then its OK button takes that folder.
  const wanted = `${folder}/`;
  for (let attempt = 1; ; attempt++) {
    // The dialog fills in its starting folder (and lists it, ".." first) a moment after it shows:
    // text typed before that ends up appended to it, and OK then finds no such path.
    await widget.locator(".quick-input-list .monaco-list-row", { hasText: ".." }).first().waitFor({ state: "visible" });
    await input.fill(wanted);
    await page.waitForFunction((want) => document.querySelector(".quick-input-widget input")?.value === want, wanted);
    await widget.locator(".quick-input-action .monaco-button", { hasText: "Create Project Here" }).click();
    try {
      await widget.waitFor({ state: "hidden", timeout: 15_000 });
      return;
    } catch {
      const said = (await widget.locator(".quick-input-message").innerText().catch(() => "")).trim();
      if (attempt === 3) throw new Error(`the folder dialog did not take ${wanted}: it holds "${await input.inputValue()}" and says "${said}"`);
    }
  }
}

/** Runs "New Promptwise Project…" with `template` (its label) up to the folder dialog. */
async function startNewProject(page, template) {
  await runCommand(page, "Notifications: Clear All Notifications");
  await runCommand(page, "Promptwise: New Promptwise Project…");
  await answerPick(page, "New Promptwise Project", template);
}

// ---- the steps ----------------------------------------------------------------------------

const EDIT = "Answer in one line.";

/** The replay step after its edit: replays log-triage's first model call, checks the page shows the edited prompt. */
async function replayEdited(page) {
  await openFile(page, "log-triage/flow.dag.yaml");
  await runCommand(page, "Promptwise: Show Trace…"); // the flow's latest trace (the run of the step before)
  const frame = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row rect.kind-llm", 20_000);
  if (!frame) throw new Error("Show Trace opened no trace with a model call");
  await frame.locator("tr.span-row", { has: frame.locator("rect.kind-llm") }).first().click();
  await frame.locator("details[open] button.replay").first().click();
  const same = page.locator(".quick-input-list .monaco-list-row", { hasText: "Same model, current prompt" }).first();
  await same.waitFor({ state: "visible" });
  await same.click();
  const replay = await frameWithSelector(page, "body[data-kind='replay'] section.call", 30_000);
  if (!replay) throw new Error("no replay page opened");
  const headings = await replay.locator("section.call h2").allInnerTexts();
  const replies = await replay.locator("pre.reply").allInnerTexts();
  if (headings.join("|") !== "Recorded|Replayed" || replies.length !== 2 || !replies[1].trim()) throw new Error(`replay page: ${headings.join("|")}, replies ${JSON.stringify(replies).slice(0, 200)}`);
  await page.screenshot({ path: path.join(results, "11b-replay.png") });
  const summary = (await replay.locator(".summary").innerText()).trim();
  const replayed = await replay.locator("section.call").nth(1).innerText();
  const recorded = await replay.locator("section.call").nth(0).innerText();
  if (!summary.includes("the prompt changed") || !replayed.includes(EDIT) || recorded.includes(EDIT)) {
    throw new Error(`the replay did not use the edited, unsaved prompt: ${summary} | replayed ${replayed.slice(-200)}`);
  }
  assertNoCspViolations();
  return summary;
}

const steps = [
  {
    name: "server starts",
    waitsOn: "python -m promptwise lsp (H7)",
    async run(page) {
      const item = page.locator('.statusbar-item [aria-label^="Promptwise server"]').first();
      await item.waitFor({ state: "attached", timeout: STEP_TIMEOUT_MS });
      await waitForServerRunning(page);
      const label = await item.getAttribute("aria-label");
      if (!/^Promptwise server \S+ running \(.+python.*\)$/.test(label ?? "")) throw new Error(`server status item says "${label}"`);
      return label;
    },
  },
  {
    name: "broken reference shows in the Problems panel",
    waitsOn: "diagnostics for flow.dag.yaml references, PW2xx (H1 analysis + H7 diagnostics)",
    async run(page) {
      await openFile(page, `${BROKEN_FOLDER}/flow.dag.yaml`);
      await runCommand(page, "View: Focus Problems");
      const row = page.locator(".markers-panel .monaco-list-row", { hasText: BROKEN_NODE }).first();
      await row.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const text = (await row.innerText()).replace(/\s+/g, " ");
      // PW202: a reference to a node that does not exist (H1's stable code), suggesting the right one.
      if (!text.includes(`'${BROKEN_NODE}'`) || !text.includes("'classify'") || !/\bPW202\b/.test(text)) {
        throw new Error(`the Problems panel row does not report PW202 for '${BROKEN_NODE}': ${text}`);
      }
      return text;
    },
  },
  {
    name: "cost code lens over an llm node",
    waitsOn: "cost code lenses (H3 costing + H7 code lens)",
    async run(page, context) {
      await openFile(page, "log-triage/flow.dag.yaml");
      // Give the editor the window's height (the Problems panel may be open from an earlier step).
      if (await page.locator(".part.panel.bottom").isVisible()) await runCommand(page, "View: Hide Panel");
      await goToLine(page, lineOf(path.join(context.workspace, "log-triage", "flow.dag.yaml"), /^- name: classify$/));
      const lens = page.locator(".monaco-editor .codelens-decoration", { hasText: "per call" }).first();
      await lens.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const text = (await lens.innerText()).replace(/\s+/g, " ");
      // The lens sits directly above the llm node it prices (classify is the first llm node).
      const node = page.locator(".monaco-editor .view-line", { hasText: /^-\s+name:\s+classify$/ }).first();
      const [lensBox, nodeBox] = [await lens.boundingBox(), await node.boundingBox()];
      if (!lensBox || !nodeBox || Math.abs(lensBox.y + lensBox.height - nodeBox.y) > 8) {
        throw new Error(`the first per-call lens is not over "- name: classify" (lens ${JSON.stringify(lensBox)}, line ${JSON.stringify(nodeBox)})`);
      }
      if (!/≈ [\d,]+ tokens in · ≤ [\d,]+ out · \$[\d.,]+ per call · \$[\d.,]+ per 1k calls/.test(text)) {
        throw new Error(`cost lens text does not follow the contract: "${text}"`);
      }
      return text;
    },
  },
  {
    name: "status bar shows tokens",
    waitsOn: "promptwise/documentTotals request (H3 + H7)",
    async run(page) {
      await openFile(page, "log-triage/flow.dag.yaml");
      const item = page.locator(".statusbar-item", { hasText: /[\d,]+ tokens/ }).first();
      await item.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const text = (await item.innerText()).trim();
      if (!/^[\d,]+ tokens( · \$[\d.,]+\/call)?$/.test(text)) throw new Error(`status bar text "${text}"`);
      return text;
    },
  },
  {
    name: "Run Flow from the palette produces outputs",
    waitsOn: "promptwise.runFlow command (H4 engine + H7 command)",
    async run(page) {
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Run Flow");
      const sample = page.locator(".quick-input-list .monaco-list-row", { hasText: "Run with the sample inputs" }).first();
      await sample.waitFor({ state: "visible" });
      await page.keyboard.press("Enter");
      const notification = page.locator(".notification-toast", { hasText: /Promptwise: (Run .+ (completed|succeeded|failed)|Running .+ failed)/ }).first();
      await notification.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const message = (await notification.innerText()).replace(/\s+/g, " ");
      if (!/Promptwise: Run \S+ (completed|succeeded)/.test(message)) throw new Error(`run did not complete: ${message}`);
      const frame = await frameWithSelector(page, "section h2:text-is('Outputs')", 30_000);
      if (!frame) throw new Error("the results panel shows no Outputs section");
      const outputs = await frame.locator("section:has(h2:text-is('Outputs')) pre").innerText();
      const parsed = JSON.parse(outputs);
      // The default log_text is a read timeout after retries: the scripted model says integration_failure.
      if (parsed?.category !== "integration_failure") throw new Error(`outputs.category is not "integration_failure": ${outputs}`);
      assertNoCspViolations();
      return `${message} | outputs: ${Object.keys(parsed).join(", ")}`;
    },
  },
  {
    name: "an interpreter without promptwise is explained, with an offer to install; a setting change restarts",
    waitsOn: "client only",
    async run(page) {
      // Debian's python3 has no promptwise (the package is installed in the repository's .venv).
      const systemPython = "/usr/bin/python3";
      await waitForServerRunning(page);
      await setUserSetting(page, "promptwise.python", systemPython);
      // Wait for the toast about this interpreter: clearing the field on the way may briefly restart
      // the server with the default interpreter and show a toast about that one first.
      const toast = page
        .locator(".notification-toast", { hasText: "does not have the promptwise package" })
        .filter({ hasText: systemPython })
        .first();
      await toast.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const message = (await toast.innerText()).replace(/\s+/g, " ");
      if (!message.includes(systemPython) || !message.includes("pip install")) throw new Error(`notification does not name the interpreter and the pip command: ${message}`);
      await toast.locator(".monaco-button", { hasText: "Install" }).waitFor({ state: "visible" });
      await page.screenshot({ path: path.join(results, "06a-missing-package.png") });
      // Back to the working interpreter: the server restarts by itself.
      await setUserSetting(page, "promptwise.python", python);
      await waitForServerRunning(page);
      return message.slice(0, 160);
    },
  },
  {
    name: "Batch Run shows progress and Cancel stops it",
    waitsOn: "promptwise.batchRun and promptwise.cancel (H4 batch + H7 jobs)",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Batch Run…");
      const dataset = page.locator(".quick-input-list .monaco-list-row", { hasText: "log-triage/data.jsonl" }).first();
      await dataset.waitFor({ state: "visible" });
      await dataset.click();
      const progress = page.locator(".notification-toast", { hasText: "Promptwise: Batch running flow.dag.yaml over data.jsonl" }).first();
      await progress.waitFor({ state: "visible" });
      // Wait until the server reports finished rows ("5/64 rows"), then cancel mid-batch.
      await progress.locator(".notification-list-item-message", { hasText: /\b[1-9]\d*\/64 rows/ }).waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const reported = (await progress.innerText()).replace(/\s+/g, " ");
      await page.screenshot({ path: path.join(results, "07a-batch-progress.png") });
      await progress.locator(".monaco-button", { hasText: "Cancel" }).click();
      const outcome = page.locator(".notification-toast", { hasText: /Promptwise: Batch \S* ?cancell?ed/ }).first();
      await outcome.waitFor({ state: "visible", timeout: 30_000 });
      const text = (await outcome.innerText()).replace(/\s+/g, " ");
      const done = /(\d+)\/(\d+) rows done/.exec(text);
      if (!done || Number(done[1]) >= Number(done[2])) throw new Error(`the batch finished every row despite Cancel: ${text}`);
      // The server answers a cancelled job with status "canceled"; the client shows it as a warning.
      if (!(await outcome.locator(".codicon-warning").count())) throw new Error(`the cancelled batch is not shown as a warning: ${text}`);
      await waitForServerRunning(page);
      return `${reported} -> ${text}`;
    },
  },
  {
    name: "Evaluate shows metrics and a chart in the results panel",
    waitsOn: "promptwise.evaluate (H5 evaluation + H7 jobs)",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Evaluate…");
      // With earlier runs of this flow the first pick offers them, or a dataset; without, datasets.
      const overData = page.locator(".quick-input-list .monaco-list-row", { hasText: "Evaluate over a dataset…" }).first();
      const dataRow = page.locator(".quick-input-list .monaco-list-row", { hasText: "log-triage/data.jsonl" }).first();
      await overData.or(dataRow).first().waitFor({ state: "visible" });
      if (await overData.isVisible()) await overData.click();
      const dataset = page.locator(".quick-input-list .monaco-list-row", { hasText: "log-triage/data.jsonl" }).first();
      await dataset.waitFor({ state: "visible" });
      await dataset.click();
      const done = page.locator(".notification-toast", { hasText: /Promptwise: Evaluation/ }).first();
      await done.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const message = (await done.innerText()).replace(/\s+/g, " ");
      const frame = await frameWithSelector(page, "table.evaluators", 30_000);
      if (!frame) throw new Error(`the results panel shows no evaluator table (notification: ${message})`);
      const evaluators = await frame.locator("table.evaluators tbody tr").count();
      const row = (await frame.locator("table.evaluators tbody tr", { hasText: "category_match" }).innerText()).replace(/\s+/g, " ");
      if (!/^category_match exact_match [\d.]+ \d+(\.\d)?% /.test(row)) throw new Error(`category_match row: "${row}"`);
      const bars = await frame.locator("svg.pass-rate rect.bar").count();
      if (bars !== evaluators) throw new Error(`${evaluators} evaluators but ${bars} pass-rate bars`);
      assertNoCspViolations();
      return `${message} | ${evaluators} evaluators, ${row}`;
    },
  },
  {
    name: "clicking the status bar item estimates the cost",
    waitsOn: "promptwise.estimateCost (H3 estimate + H7 command)",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await openFile(page, "log-triage/flow.dag.yaml");
      await page.locator(".statusbar-item", { hasText: /[\d,]+ tokens/ }).first().click();
      const oneCall = page.locator(".quick-input-list .monaco-list-row", { hasText: "One call with the sample inputs" }).first();
      await oneCall.waitFor({ state: "visible" });
      await oneCall.click();
      const done = page.locator(".notification-toast", { hasText: "Promptwise: Estimate" }).first();
      await done.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const message = (await done.innerText()).replace(/\s+/g, " ");
      if (!/Estimate: [\d,]+ tokens in · ≤ [\d,]+ out · [≈≤] \$[\d.]+/.test(message)) throw new Error(`estimate notification: ${message}`);
      const frame = await frameWithSelector(page, "h2:text-is('Total')", 30_000);
      if (!frame) throw new Error("the results panel shows no Total section");
      const nodes = await frame.locator("table.rows tr.row").count();
      // log-triage has three llm nodes to price.
      if (nodes !== 3) throw new Error(`the estimate lists ${nodes} nodes, expected the 3 llm nodes`);
      assertNoCspViolations();
      return `${message} | ${nodes} nodes`;
    },
  },
  {
    name: "the evaluation lens opens its evaluation, with a drill-down per row",
    waitsOn: "evaluation code lenses + promptwise.showRun (H5 + H7)",
    async run(page) {
      await runCommand(page, "View: Close All Editors");
      await openFile(page, "log-triage/flow.dag.yaml");
      // The editor may reopen the file where an earlier step left it (line ~19): the flow's
      // evaluation lens sits above line 1, so bring the top into view first.
      await page.keyboard.press("Control+Home");
      // The lens shows the latest evaluation's figures (`… pass 97% …`) and opens that evaluation.
      const lens = page.locator(".monaco-editor .codelens-decoration a", { hasText: /pass \d+(\.\d)?%/ }).first();
      await lens.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const text = (await lens.innerText()).replace(/\s+/g, " ");
      await lens.click();
      const frame = await frameWithSelector(page, "body[data-kind='evaluation']", 30_000);
      if (!frame) throw new Error(`clicking "${text}" opened no evaluation`);
      const title = await frame.locator("h1").innerText();
      if (!/^Evaluation log-triage_\d{8}_\d{6}_[0-9a-f]{4}\.eval\d+/.test(title)) throw new Error(`evaluation titled "${title}"`);
      const drillDowns = await frame.locator("table.evaluation-rows details.row-details").count();
      if (drillDowns < 1) throw new Error("the evaluation shows no per-row drill-down");
      await page.screenshot({ path: path.join(results, "10-evaluation-panel.png") });
      // A row's drill-down opens that row's trace (issue 10 part 1).
      const second = frame.locator("table.evaluation-rows details.row-details").nth(Math.min(1, drillDowns - 1));
      const wanted = await second.getAttribute("data-row");
      await second.locator(":scope > summary").click();
      await second.locator("button.show-trace").first().click();
      const traceFrame = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row", 20_000);
      if (!traceFrame) throw new Error("the row's Show trace opened no trace view");
      const about = (await traceFrame.locator("body").innerText()).match(/run \S+ row (\d+)/);
      if (!about || about[1] !== wanted) throw new Error(`the row's trace is not of row ${wanted}: ${about?.[0] ?? "no run and row shown"}`);
      assertNoCspViolations();
      return `${text} -> ${title} (${drillDowns} rows with a drill-down) | row ${wanted}'s trace: ${about[0]}`;
    },
  },
  {
    name: "a run's trace view shows its spans, and the node lenses its last run",
    waitsOn: "promptwise.showTrace + trace lenses (T tracing + X1 trace view)",
    async run(page, context) {
      await runCommand(page, "Notifications: Clear All Notifications");
      // The step before leaves a row's trace open: its frame (span rows too) would be found and
      // clicked while Show Trace replaces it ("Frame was detached" under load). Start without it.
      await runCommand(page, "View: Close All Editors");
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Run Flow");
      const sample = page.locator(".quick-input-list .monaco-list-row", { hasText: "Run with the sample inputs" }).first();
      await sample.waitFor({ state: "visible" });
      await page.keyboard.press("Enter");
      const notification = page.locator(".notification-toast", { hasText: /Promptwise: Run \S+ (completed|succeeded)/ }).first();
      await notification.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      await notification.locator(".monaco-button", { hasText: "Show Trace" }).click();
      const frame = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row", 20_000);
      if (!frame) throw new Error("Show Trace opened no trace view");
      const names = (await frame.locator("tr.span-row td.name").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
      const calls = frame.locator("tr.span-row", { has: frame.locator("rect.kind-llm") });
      const callCount = await calls.count();
      if (!names.some((n) => /^flow /i.test(n)) || !names.some((n) => /^node .*classify/i.test(n)) || callCount < 1) {
        throw new Error(`the waterfall lacks the flow, the classify node or a model call: ${names.join(" | ")}`);
      }
      const callRow = (await calls.first().innerText()).replace(/\s+/g, " ");
      if (!/\d+→\d+/.test(callRow)) throw new Error(`the model call's row shows no tokens: ${callRow}`);
      // Its details: the messages sent and the reply.
      await calls.first().click();
      const opened = frame.locator("details[open] .span-body").first();
      await opened.locator("h4", { hasText: "Reply" }).waitFor({ state: "visible" });
      await page.screenshot({ path: path.join(results, "11a-trace-view.png") });
      // The lens over the classify node: "last run: … · … tok".
      const lens = page.locator(".monaco-editor .codelens-decoration a", { hasText: /^last run: .* tok/ }).first();
      await lens.waitFor({ state: "visible", timeout: 20_000 });
      const lensText = (await lens.innerText()).trim();
      // The lens over a node opens the trace on that node's span.
      await goToLine(page, lineOf(path.join(context.workspace, "log-triage", "flow.dag.yaml"), /^- name: classify$/));
      // classify's lenses share a line: its cost ("… per call") and "last run: … tok".
      const nodeLens = page.locator(".monaco-editor .codelens-decoration", { hasText: "per call" }).first().locator("a", { hasText: /^last run: .* tok/ });
      await nodeLens.waitFor({ state: "visible", timeout: 20_000 });
      await nodeLens.click();
      const focused = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row.focused", 20_000);
      if (!focused) throw new Error("the node's last-run lens opened no trace on a node's span");
      const focusedName = (await focused.locator("tr.span-row.focused td.name").innerText()).replace(/\s+/g, " ").trim();
      if (!/^node /i.test(focusedName)) throw new Error(`the node lens focused "${focusedName}", not a node's span`);
      // Leave the flow scrolled to its top and no trace view open, as the next steps expect
      // (their lenses sit above line 1; the replay step opens its own trace view).
      await openFile(page, "log-triage/flow.dag.yaml");
      await page.keyboard.press("Control+Home");
      await runCommand(page, "View: Close All Editors");
      assertNoCspViolations();
      return `${names.length} spans (${callCount} model calls): ${callRow} | lens "${lensText}"; classify's lens -> ${focusedName}`;
    },
  },
  {
    name: "the trace view replays a model call with the current prompt, side by side",
    waitsOn: "promptwise.replayCall (X1 replay through the engine)",
    async run(page, context) {
      await runCommand(page, "Notifications: Clear All Notifications");
      // The prompt is edited and not saved: "the current prompt" is what the editor shows.
      const template = path.join(context.workspace, "log-triage", "classify.jinja2");
      const original = fs.readFileSync(template, "utf8");
      await openFile(page, "log-triage/classify.jinja2");
      await page.locator(".monaco-editor textarea").first().focus();
      await page.keyboard.press("Control+End");
      await page.keyboard.type(`\n${EDIT}`);
      try {
        return await replayEdited(page);
      } finally {
        fs.writeFileSync(template, original);
        await openFile(page, "log-triage/classify.jinja2");
        await runCommand(page, "File: Revert File");
      }
    },
  },
  {
    name: "Serve Flow Locally answers in the request panel, links the trace, and stops",
    waitsOn: "promptwise serve (S serving) + X1 serve session",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Serve Flow Locally");
      const item = page.locator(".statusbar-item", { hasText: /127\.0\.0\.1:\d+/ }).first();
      await item.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS }); // serve starts slowly on a loaded machine
      const url = (await item.innerText()).trim();
      const frame = await frameWithSelector(page, "body[data-kind='serve'] #inputs", 30_000);
      if (!frame) throw new Error("no request panel opened");
      await frame.locator("#inputs").fill(JSON.stringify({ log_text: "Disk full on /var/lib/postgresql" }));
      await frame.locator("#send").click();
      await frame.locator("#state", { hasText: /HTTP \d+/ }).waitFor({ state: "visible", timeout: 30_000 });
      const state = (await frame.locator("#state").innerText()).trim();
      const answer = await frame.locator("#answer").innerText();
      // Each output under its name, the streamed summary joined (was a JSON block with the pieces glued on).
      if (!state.startsWith("HTTP 200") || !/^category: \S+$/m.test(answer) || !/^business_summary:\n\*\*What happened\*\*/m.test(answer)) {
        throw new Error(`request panel: ${state}: ${answer.slice(0, 300)}`);
      }
      await page.screenshot({ path: path.join(results, "12a-serve-panel.png") });
      // A wrong input: one readable line naming it, not a JSON body. (A number or a boolean would be
      // taken as its text, as pf flow serve takes it.)
      await frame.locator("#inputs").fill(JSON.stringify({ log_text: ["not", "a", "string"] }));
      await frame.locator("#send").click();
      await frame.locator("#state", { hasText: "HTTP 422" }).waitFor({ state: "visible", timeout: 30_000 });
      const refused = (await frame.locator("#answer").innerText()).trim();
      if (!/^HTTP 422 · .*log_text.*string/.test(refused) || refused.includes("{")) throw new Error(`the 422 answer is not one readable line: ${refused}`);
      await frame.locator("#trace").click();
      const traceFrame = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row td.name:has-text('POST /score')", 20_000);
      if (!traceFrame) throw new Error("the request's trace did not open");
      // The status bar item's menu stops it.
      await item.click();
      await page.locator(".quick-input-list .monaco-list-row", { hasText: "Stop Serving" }).first().click();
      await item.waitFor({ state: "hidden", timeout: 15_000 });
      assertNoCspViolations();
      return `${url}: ${state}, ${answer.length} chars streamed; 422 "${refused.slice(0, 80)}"; trace opened; stopped`;
    },
  },
  {
    name: "Serve a chat prompty: the panel keeps the conversation, the lens shows the request, a crash is said; a reload or a killed extension host ends the server",
    waitsOn: "promptwise serve /v1/chat/completions + X1 serve session (V)",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await runCommand(page, "View: Close All Editors");
      const file = `${CHAT_FOLDER}/chat.prompty`;
      await runCommand(page, "Promptwise: Stop Serving"); // the status item must be this step's
      await openFile(page, file);
      await runCommand(page, "Promptwise: Serve Flow Locally");
      const item = page.locator(".statusbar-item", { hasText: /127\.0\.0\.1:\d+/ }).first();
      await item.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS }); // serve starts slowly on a loaded machine
      const port = Number((await item.innerText()).trim().split(":").pop());
      const frame = await frameWithSelector(page, "body[data-kind='serve-chat'] #message", 30_000);
      if (!frame) throw new Error("no chat panel opened for a chat prompty");
      const questions = ["What is the capital of France?", "And its river?"];
      for (const [index, question] of questions.entries()) {
        await frame.locator("#message").fill(question);
        await frame.locator("#send").click();
        await frame.locator("#state", { hasText: `${index + 1} turn` }).waitFor({ state: "visible", timeout: 30_000 });
      }
      const replies = (await frame.locator("#chat .role-assistant pre").allInnerTexts()).map((t) => t.trim());
      if (replies.join("|") !== questions.map((q) => `echo: ${q}`).join("|")) throw new Error(`chat replies: ${JSON.stringify(replies)}`);
      await page.screenshot({ path: path.join(results, "12b-serve-chat.png") });
      // The second turn's model call was sent the first turn as history.
      await frame.locator("#chat button.trace").last().click();
      const trace = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row rect.kind-llm", 20_000);
      if (!trace) throw new Error("the second turn's trace did not open");
      await trace.locator("tr.span-row", { has: trace.locator("rect.kind-llm") }).first().click();
      const sent = await trace.locator("details[open] .span-body").first().innerText();
      if (!sent.includes(questions[0]) || !sent.includes(`echo: ${questions[0]}`) || !sent.includes(questions[1])) throw new Error(`the second call was not sent the history: ${sent.slice(0, 300)}`);
      // The prompty never ran here: its "last run" lens comes from the served request (traces.sqlite watched).
      // (Quick Open opens a file in the active group: the prompty's group first, not a webview's.)
      await runCommand(page, "View: Focus First Editor Group");
      await openFile(page, file);
      const lens = page.locator(".monaco-editor .codelens-decoration a", { hasText: /^last run: .* tok/ }).first();
      await lens.waitFor({ state: "visible", timeout: 20_000 });
      const lensText = (await lens.innerText()).trim();
      // The server dies: the user is told, the panel says so.
      const [pid] = servePids("chat.prompty", port);
      if (!pid) throw new Error(`no promptwise serve process on port ${port}`);
      process.kill(pid, "SIGKILL");
      const toast = page.locator(".notification-toast", { hasText: "serving chat.prompty stopped" }).first();
      await toast.waitFor({ state: "visible", timeout: 15_000 });
      const told = (await toast.innerText()).replace(/\s+/g, " ");
      await frame.locator("#stopped", { hasText: "The server stopped" }).waitFor({ state: "visible", timeout: 5_000 });
      await item.waitFor({ state: "hidden", timeout: 5_000 });
      // Served again, then the window reloads (as on close): the server goes with it.
      await runCommand(page, "View: Focus First Editor Group");
      await openFile(page, file);
      await runCommand(page, "Promptwise: Serve Flow Locally");
      await item.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS }); // serve starts slowly on a loaded machine
      const again = Number((await item.innerText()).trim().split(":").pop());
      if (!servePids("chat.prompty", again).length) throw new Error(`no promptwise serve process on port ${again}`);
      await runCommand(page, "Developer: Reload Window");
      await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 60_000 });
      const deadline = Date.now() + 20_000;
      while (servePids("chat.prompty", again).length && Date.now() < deadline) await page.waitForTimeout(250);
      if (servePids("chat.prompty", again).length) throw new Error("promptwise serve outlived the window's reload");
      await waitForServerRunning(page);
      // Served again, then the extension host is killed (no deactivate): the next host stops the server left behind.
      await runCommand(page, "View: Focus First Editor Group");
      await openFile(page, file);
      await runCommand(page, "Promptwise: Serve Flow Locally");
      await item.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const third = Number((await item.innerText()).trim().split(":").pop());
      const hosts = extensionHostPids();
      if (!hosts.length || !servePids("chat.prompty", third).length) throw new Error(`no extension host (${hosts}) or no serve on port ${third}`);
      hosts.forEach((pid) => process.kill(pid, "SIGKILL"));
      await page.waitForTimeout(2_000);
      if (!extensionHostPids().length) await runCommand(page, "Developer: Restart Extension Host");
      const orphanDeadline = Date.now() + 60_000;
      while (servePids("chat.prompty", third).length && Date.now() < orphanDeadline) await page.waitForTimeout(250);
      if (servePids("chat.prompty", third).length) throw new Error("promptwise serve outlived its killed extension host");
      await waitForServerRunning(page);
      await runCommand(page, "Notifications: Clear All Notifications");
      await runCommand(page, "View: Close All Editors"); // the next steps' lenses are log-triage's
      assertNoCspViolations();
      return `2 turns answered with their history; lens "${lensText}"; crash: "${told.slice(0, 140)}"; reload stopped the server; a killed host's server stopped by the next`;
    },
  },
  {
    name: "Show Monitor opens the monitor page; a traced flow has its live lens",
    waitsOn: "promptwise.monitorView + live lenses (X2 monitor view)",
    async run(page) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await openFile(page, "log-triage/flow.dag.yaml");
      await runCommand(page, "Promptwise: Show Monitor");
      const frame = await frameWithSelector(page, "h1:has-text('Promptwise monitor: log-triage')", 20_000);
      if (!frame) throw new Error("Show Monitor opened no monitor page");
      const rows = await frame.locator("table tr").count();
      const charts = await frame.locator("svg[role='img']").count();
      await page.screenshot({ path: path.join(results, "13a-monitor-view.png") });
      if (rows <= 1) {
        // Run alone: no traffic yet, and the page says so.
        await frame.locator("p", { hasText: "No traffic in this window." }).waitFor({ state: "visible" });
        assertNoCspViolations();
        return "no traffic yet: the page says so";
      }
      if (charts < 4) throw new Error(`the monitor page has ${charts} charts, expected latency, cost, errors, requests`);
      // Earlier steps ran the flow: its live lens ("live <version>: p95 … · …% errors").
      const lens = page.locator(".monaco-editor .codelens-decoration a", { hasText: /^live \S+: p95 / }).first();
      await lens.waitFor({ state: "visible", timeout: 20_000 });
      assertNoCspViolations();
      return `${rows - 1} version rows, ${charts} charts | lens "${(await lens.innerText()).trim()}"`;
    },
  },
  {
    name: "an alert rule that fires is a notification whose Open Trace opens the trace",
    waitsOn: "promptwise.alerts + AlertWatcher (H6 monitoring, H12)",
    async run(page, context) {
      // Earlier steps ran log-triage (its traces took about a second): a p95 above 1 ms fires. The
      // batch step cancelled rows (traces whose status is error): an error rate above 1% fires,
      // and its Open Trace shows a failed trace (which the view once took for a failed request;
      // the slow rule's example, the slowest trace, is one too when a cancelled row was slowest).
      const slow = "e2e-slow-triage";
      const failing = "e2e-failing-triage";
      const settingsYaml = path.join(context.workspace, "promptwise.yaml");
      const before = fs.readFileSync(settingsYaml, "utf8");
      fs.writeFileSync(settingsYaml, `${before}\nalerts:\n` +
        `  - {name: ${slow}, flow: log-triage, metric: latency_p95_ms, above: 1, window: 1d}\n` +
        `  - {name: ${failing}, flow: log-triage, metric: error_rate, above: 0.01, window: 1d}\n`);
      try {
        // Changing the period (as a user would, in the Settings editor) makes the watcher check within a second.
        await setUserSetting(page, "promptwise.monitor.alertCheckSeconds", "30");
        const toast = (rule) => page.locator(".notification-toast", { hasText: `Promptwise alert: ${rule}:` }).first();
        await toast(slow).waitFor({ state: "visible", timeout: 20_000 });
        await toast(failing).waitFor({ state: "visible", timeout: 5_000 });
        const message = (await toast(slow).innerText()).replace(/\s+/g, " ");
        if (!/latency_p95_ms/.test(message)) throw new Error(`the alert does not say its metric: ${message}`);
        await page.screenshot({ path: path.join(results, "13b-alert.png") });
        await toast(failing).locator(".monaco-button", { hasText: "Open Trace" }).click();
        const frame = await frameWithSelector(page, "body[data-kind='trace'] tr.span-row.failed", 20_000);
        if (!frame) throw new Error(`the error-rate alert's Open Trace opened no failed trace: ${await notificationTexts(page)}`);
        const spans = await frame.locator("tr.span-row").count();
        const failed = (await frame.locator("tr.span-row.failed td.name").first().innerText()).replace(/\s+/g, " ").trim();
        assertNoCspViolations();
        return `${message.slice(0, 120)} | ${failing}'s Open Trace -> trace view with ${spans} spans, failed: ${failed}`;
      } finally {
        // The watcher keeps checking every 30 s: without rules each check is a file read.
        fs.writeFileSync(settingsYaml, before);
      }
    },
  },
  {
    name: "the Deployments view promotes, shifts traffic and rolls back a served rollout",
    waitsOn: "promptwise.deployments + rollout promote|set|rollback against promptwise serve (H8)",
    servesRollout: true,
    async run(page, context) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await runCommand(page, "View: Close All Editors");
      const served = await context.rolloutServer(); // started with code-server: see main()
      const v1 = `${ROLLOUT_FLOW}:v1`;
      const v2 = `${ROLLOUT_FLOW}:v2`;
      if ((await served.answeredBy()) !== v1) throw new Error("the server does not start on v1");
      await runCommand(page, "Explorer: Focus on Promptwise Deployments View");
      await runCommand(page, "Promptwise: Refresh Deployments");
      const flowRow = await deploymentRow(page, ROLLOUT_FLOW);
      const described = (await flowRow.innerText()).replace(/\s+/g, " ");
      if (!described.includes("serve: v1 100%")) throw new Error(`the flow's row does not show v1 serving: ${described}`);
      const outcomes = [];

      // Promote v2 from its context menu: the running server answers with v2 only.
      await deploymentAction(page, "v2", "Promote to 100%");
      await page.locator(".notification-toast", { hasText: `Promptwise: promote ${v2}:` }).first().waitFor({ state: "visible", timeout: 30_000 });
      let seen = await served.applied(`${v2}=100`);
      if (seen.join() !== v2) throw new Error(`after Promote the server answered with ${seen.join(", ")}`);
      outcomes.push(`promote -> ${seen.join("+")}`);

      // Shift traffic: give v1 50%; the server answers with both.
      await runCommand(page, "Notifications: Clear All Notifications");
      await deploymentAction(page, "v1", "Shift Traffic");
      const percent = page.locator(".quick-input-widget input");
      await percent.waitFor({ state: "visible" });
      await percent.fill("50");
      await page.keyboard.press("Enter");
      seen = await served.applied(`${v1}=50, ${v2}=50`);
      if (seen.join() !== [v1, v2].join()) throw new Error(`after Shift Traffic the server answered with ${seen.join(", ")}`);
      outcomes.push(`shift -> ${seen.join("+")}`);
      const row = await deploymentRow(page, "v1");
      await row.locator(".label-description", { hasText: "50%" }).waitFor({ state: "visible", timeout: 15_000 });

      // Roll back (confirmed in a modal dialog): the promoted state again.
      await deploymentAction(page, ROLLOUT_FLOW, "Roll Back Rollout");
      await page.locator(".monaco-dialog-box .monaco-button", { hasText: "Roll Back" }).click();
      seen = await served.applied(`${v2}=100`);
      if (seen.join() !== v2) throw new Error(`after Roll Back the server answered with ${seen.join(", ")}`);
      outcomes.push(`roll back -> ${seen.join("+")}`);

      // The flow's code lens says which version is live where.
      await page.keyboard.press("Control+P");
      const quickOpen = page.locator(".quick-input-widget input");
      await quickOpen.waitFor({ state: "visible" });
      await quickOpen.fill(`${ROLLOUT_FLOW}.prompty`);
      await page.locator(".quick-input-list .monaco-list-row", { hasText: `${ROLLOUT_FLOW}.prompty` }).first().click();
      await page.locator(".tab.active", { hasText: `${ROLLOUT_FLOW}.prompty` }).waitFor({ state: "visible" });
      const lens = page.locator(".monaco-editor .codelens-decoration", { hasText: "serve: v2 100%" }).first();
      await lens.waitFor({ state: "visible", timeout: 20_000 });
      await page.screenshot({ path: path.join(results, "14a-deployments.png") });
      process.kill(-served.child.pid, "SIGTERM");
      const where = (await lens.innerText()).split(/\s*\|\s*|\n/).find((text) => text.includes("serve: v2 100%"));
      return `${outcomes.join(" | ")} | lens "${where}"`;
    },
  },
  {
    name: "Deploy… writes a version's kubernetes manifests to a folder, with progress",
    waitsOn: "promptwise deploy --target kubernetes --out (H7 deploy) + Deploy… (H12)",
    servesRollout: true,
    async run(page, context) {
      await runCommand(page, "Notifications: Clear All Notifications");
      await context.rolloutServer(); // the two packaged versions of rollout-demo
      const version = `${ROLLOUT_FLOW}:v1`;
      const out = path.join(context.workspace, "deploy", `${ROLLOUT_FLOW}-v1-kubernetes`);
      await runCommand(page, "Explorer: Focus on Promptwise Deployments View");
      await runCommand(page, "Promptwise: Refresh Deployments");
      await deploymentAction(page, "v1", "Deploy…");
      await answerPick(page, `Deploy ${version} to`, "kubernetes");
      await answerInput(page, "share of the kubernetes traffic"); // 100: the first version on kubernetes
      await answerInput(page, "container image", "ghcr.io/acme/rollout-demo");
      await answerPick(page, "now, or write its artefacts", "Write the artefacts to a folder");
      await answerInput(page, "Folder for the artefacts"); // the offered deploy/rollout-demo-v1-kubernetes
      const title = `Promptwise: deploy ${version} to kubernetes`;
      const done = page.locator(".notification-toast", { hasText: new RegExp(`${title}(:| failed)`) }).first();
      await done.waitFor({ state: "visible", timeout: 60_000 });
      const message = (await done.innerText()).replace(/\s+/g, " ");
      if (!message.includes(`kubernetes artefacts written to ${out}`) || !(await done.locator(".codicon-info").count())) {
        throw new Error(`the deploy did not end with success: ${message}`);
      }
      // The progress notification is gone (it ended), not left spinning beside the outcome.
      const spinning = page.locator(".notification-toast", { hasText: title }).filter({ has: page.locator(".monaco-progress-container.active") });
      // It may close a moment after the outcome shows (the outcome is posted as the task returns).
      try {
        await spinning.first().waitFor({ state: "detached", timeout: 10_000 });
      } catch {
        throw new Error("the deploy's progress notification is still running 10 s after its outcome");
      }
      const files = fs.readdirSync(out).sort();
      const kinds = ["deployment", "service", "horizontalpodautoscaler", "poddisruptionbudget", "httproute"];
      const missing = kinds.filter((kind) => !files.some((file) => file.includes(`-${kind}-`)));
      if (missing.length) throw new Error(`no ${missing.join(", ")} manifest in ${out}: ${files.join(", ")}`);
      const deployment = fs.readFileSync(path.join(out, files.find((file) => file.includes("-deployment-"))), "utf8");
      if (!deployment.includes("ghcr.io/acme/rollout-demo")) throw new Error(`the Deployment does not run the chosen image:\n${deployment.slice(0, 600)}`);
      return `${message.slice(0, 160)} | ${files.length} files`;
    },
  },
  {
    name: "Compare Models from the palette shows the models' table and the recommendation in the results page",
    waitsOn: "promptwise eval --models --format json (model_compare) + Compare Models… (A)",
    async run(page) {
      const models = ["gpt-4o-mini", "gpt-4.1-mini"];
      const progress = await startCompareModels(page, models);
      const seen = (await progress.locator(".notification-list-item-message").innerText()).replace(/\s+/g, " ");
      await progress.locator(".monaco-button", { hasText: "Cancel" }).waitFor({ state: "visible" });
      const frame = await frameWithSelector(page, "body[data-kind='models'] table.models", 5 * STEP_TIMEOUT_MS);
      if (!frame) throw new Error(`the results page shows no models' table: ${await notificationTexts(page)}`);
      const title = (await frame.locator("h1").innerText()).trim();
      if (title !== "Models compared · log-triage/flow.dag.yaml") throw new Error(`the page is titled "${title}"`);
      const recommended = (await frame.locator("section.recommendation p.recommended-model").innerText()).trim();
      // The scripted model answers every model alike: equal quality, so the cheaper one wins.
      if (recommended !== "Recommended: gpt-4o-mini") throw new Error(`the page says "${recommended}"`);
      const reason = (await frame.locator("section.recommendation p.reason").innerText()).trim();
      if (!/cheapest of the models within 0\.02 of the best/.test(reason)) throw new Error(`the reason is "${reason}"`);
      const headers = (await frame.locator("table.models thead th").allInnerTexts()).map((t) => t.trim());
      for (const wanted of ["category_match.pass_rate (primary)", "cost/row", "latency p50", "latency p95", "rows failed", "eval errors"]) {
        if (!headers.includes(wanted)) throw new Error(`the table has no "${wanted}" column: ${headers.join(" | ")}`);
      }
      const rows = frame.locator("table.models tbody tr.model");
      const names = (await rows.locator("th.model-name").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
      if (names.join() !== "gpt-4o-mini recommended,gpt-4.1-mini") throw new Error(`the table's models: ${names.join(" | ")}`);
      const first = (await rows.first().innerText()).replace(/\s+/g, " ").trim();
      if (!/^gpt-4o-mini recommended \d+(\.\d)?% .*\$[\d.]+ [\d.]+ m?s [\d.]+ m?s 0 0 /.test(first)) throw new Error(`the recommended row: "${first}"`);
      const toast = page.locator(".notification-toast", { hasText: "Promptwise: Recommended: gpt-4o-mini" }).first();
      await toast.waitFor({ state: "visible", timeout: 30_000 });
      await page.screenshot({ path: path.join(results, "18a-compare-models.png") });
      // The page's button compares the models' runs row by row, in the same page.
      await frame.locator("button.compare-runs").click();
      const compared = await frameWithSelector(page, "body[data-kind='comparison']", 30_000);
      if (!compared) throw new Error("Compare the runs row by row opened no comparison");
      assertNoCspViolations();
      return `${seen} -> ${recommended} (${reason.slice(0, 80)}…) | ${first}`;
    },
  },
  {
    name: "Compare Models' Cancel stops the command and says what was kept",
    waitsOn: "Compare Models… Cancel (A) + the CLI's Ctrl-C handling",
    async run(page, context) {
      // Ten times log-triage's rows: each model then takes half a minute or more against the fake
      // model's latency, even on a quiet machine (64 rows took 3 s), so Cancel lands mid-run.
      const rows = fs.readFileSync(path.join(context.workspace, "log-triage", "data.jsonl"), "utf8").trim().split("\n");
      const total = rows.length * 10;
      fs.writeFileSync(path.join(context.workspace, "log-triage", "cancel-data.jsonl"), `${Array(10).fill(rows.join("\n")).join("\n")}\n`);
      const models = ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4o"];
      const progress = await startCompareModels(page, models, "cancel-data.jsonl");
      // Cancel once the first model has finished rows: the notification follows `--progress`.
      const rowsDone = progress.locator(".notification-list-item-message", { hasText: new RegExp(`gpt-4o-mini \\(1 of 3\\): [1-9]\\d*/${total} rows`) });
      await rowsDone.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const reported = (await rowsDone.innerText()).replace(/\s+/g, " ");
      if (compareModelsPids().length === 0) throw new Error("no promptwise eval --models process is running");
      await progress.locator(".monaco-button", { hasText: "Cancel" }).click();
      const outcome = page.locator(".notification-toast", { hasText: "Promptwise: Compare Models cancelled" }).first();
      await outcome.waitFor({ state: "visible", timeout: 30_000 });
      const text = (await outcome.locator(".notification-list-item-message").innerText()).replace(/\s+/g, " ");
      if (!(await outcome.locator(".codicon-warning").count())) throw new Error(`the cancel is not shown as a warning: ${text}`);
      if (!/interrupted/.test(text)) throw new Error(`the warning does not say what the command kept: ${text}`);
      const left = compareModelsPids();
      if (left.length) throw new Error(`promptwise eval --models still running after Cancel: pids ${left.join(", ")}`);
      return `${reported} -> ${text.slice(0, 200)}`;
    },
  },
  {
    name: "New Promptwise Project: a folder that is not empty asks first; the project checks clean",
    waitsOn: "promptwise init (scaffold) + New Promptwise Project… (A)",
    async run(page, context) {
      const parent = path.join(context.workspace, "new-projects");
      const occupied = path.join(parent, "occupied");
      const fresh = path.join(parent, "fresh");
      fs.mkdirSync(occupied, { recursive: true });
      fs.mkdirSync(fresh, { recursive: true });
      const ownReadme = "# My notes\n\nNot to be overwritten.\n";
      fs.writeFileSync(path.join(occupied, "README.md"), ownReadme);
      const outcomes = [];

      // A folder that is not empty: the question; "Choose Another Folder…" goes back to the dialog.
      await startNewProject(page, "Classifier with evaluation");
      await answerFolderDialog(page, occupied);
      const dialog = page.locator(".monaco-dialog-box", { hasText: "is not empty" });
      await dialog.waitFor({ state: "visible" });
      const asked = (await dialog.innerText()).replace(/\s+/g, " ");
      if (!asked.includes("README.md") || !asked.includes("never overwritten")) throw new Error(`the question: ${asked}`);
      await page.screenshot({ path: path.join(results, "20a-new-project-not-empty.png") });
      await dialog.locator(".monaco-button", { hasText: "Choose Another Folder" }).click();
      await answerFolderDialog(page, fresh);
      const created = page.locator(".notification-toast", { hasText: `Promptwise: created a Classifier with evaluation project in ${fresh}` }).first();
      await created.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      outcomes.push((await created.locator(".notification-list-item-message").innerText()).replace(/\s+/g, " ").slice(0, 120));
      // Scaffolded: it passes `promptwise check` with no problem, and the editor shows none.
      const check = spawnSyncText(python, ["-m", "promptwise", "check", fresh], context);
      if (check.status !== 0) throw new Error(`promptwise check ${fresh} exit ${check.status}: ${check.output.slice(-600)}`);
      outcomes.push(`check exit 0`);
      await created.locator(".monaco-button", { hasText: "Open README" }).click();
      await page.locator(".tab.active", { hasText: "README.md" }).waitFor({ state: "visible" });
      await openFile(page, "new-projects/fresh/flow.dag.yaml");
      // The server has analysed it once its cost lens shows; then its problems would be published too.
      await page.locator(".monaco-editor .codelens-decoration", { hasText: "per call" }).first().waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      await runCommand(page, "View: Focus Problems");
      const problems = page.locator(".markers-panel .monaco-list-row", { hasText: "new-projects" });
      if (await problems.count()) throw new Error(`the Problems panel lists the new project: ${(await problems.allInnerTexts()).join(" | ")}`);
      await runCommand(page, "View: Hide Panel");

      // The same folder, now adding the files beside what is there: the user's README is kept.
      await startNewProject(page, "Chat flow");
      await answerFolderDialog(page, occupied);
      await dialog.waitFor({ state: "visible" });
      await dialog.locator(".monaco-button", { hasText: "Add Files Here" }).click();
      const added = page.locator(".notification-toast", { hasText: `Promptwise: created a Chat flow project in ${occupied}` }).first();
      await added.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const addedText = (await added.locator(".notification-list-item-message").innerText()).replace(/\s+/g, " ");
      if (!/Kept 1 file already there \(not overwritten\): README\.md/.test(addedText)) throw new Error(`the outcome does not say README.md was kept: ${addedText}`);
      if (fs.readFileSync(path.join(occupied, "README.md"), "utf8") !== ownReadme) throw new Error("the folder's README.md was overwritten");
      if (!fs.existsSync(path.join(occupied, "flow.dag.yaml"))) throw new Error("no flow.dag.yaml was added beside README.md");
      outcomes.push(addedText.slice(0, 160));
      assertNoCspViolations();
      return outcomes.join(" | ");
    },
  },
];

/** Runs a command to its end (the step waits for it); its exit status and output, interleaved. */
function spawnSyncText(command, args, context) {
  const result = spawnSync(command, args, { cwd: context.workspace, env: context.env, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  fs.rmSync(results, { recursive: true, force: true });
  fs.mkdirSync(results, { recursive: true });
  if (!fs.existsSync(python)) throw new Error(`no Python at ${python}: create the repository's .venv (tests/run-all.sh does) or set PROMPTWISE_E2E_PYTHON`);

  const codeServer = setupCodeServer();
  const vsix = buildVsix();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "promptwise-e2e-"));
  const userDataDir = path.join(tmp, "user-data");
  const extensionsDir = path.join(tmp, "extensions");
  const workspace = makeWorkspace();
  writeUserSettings(userDataDir);

  log(`installing ${path.relative(repo, vsix)} into code-server`);
  const codeServerConfig = path.join(tmp, "code-server.yaml");
  fs.writeFileSync(codeServerConfig, "auth: none\ncert: false\n");
  execFileSync(codeServer, ["--extensions-dir", extensionsDir, "--user-data-dir", userDataDir, "--install-extension", vsix], {
    stdio: ["ignore", "pipe", "inherit"],
    // code-server's own config file, not the user's ~/.config/code-server/config.yaml
    env: { ...process.env, CODE_SERVER_CONFIG: codeServerConfig },
  });

  const baseUrl = await startFakeOpenAI();
  const port = await freePort();
  const env = {
    ...process.env,
    OPENAI_API_KEY: "sk-e2e-test",
    PROMPTWISE_BASE_URL: baseUrl,
    CODE_SERVER_CONFIG: codeServerConfig,
  };
  // PROMPTWISE_E2E_STEPS=regex runs only matching steps (for working on one; the suite runs all).
  const only = process.env.PROMPTWISE_E2E_STEPS ? new RegExp(process.env.PROMPTWISE_E2E_STEPS, "i") : undefined;
  // The Deployments step's two packaged versions and their `promptwise serve`, made while
  // code-server starts (they take seconds of their own); the step awaits them.
  let rolloutServing;
  const rolloutServer = () => (rolloutServing ??= serveTwoVersions(workspace, env));
  if (steps.some((step) => step.servesRollout && (!only || only.test(step.name)))) rolloutServer().catch(() => undefined);
  const server = startProcess(
    codeServer,
    [
      "--auth", "none",
      "--bind-addr", `127.0.0.1:${port}`,
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--disable-getting-started-override",
      "--user-data-dir", userDataDir,
      "--extensions-dir", extensionsDir,
      workspace,
    ],
    { cwd: tmp, env },
  );
  const serverLog = fs.createWriteStream(path.join(results, "code-server.log"));
  server.stdout.pipe(serverLog);
  server.stderr.pipe(serverLog);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
  log(`code-server ${port} up`);

  browser = await chromium.launch({
    // Ctrl-C, SIGTERM and SIGHUP go through cleanUp below: the browser, then our processes.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    executablePath: process.env.PROMPTWISE_E2E_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const outcomes = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(30_000);
    // Every frame's console, webviews included: the results panel must not trip its own CSP.
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to (load|execute|apply)/i.test(message.text())) cspViolations.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 120_000 });
    await page.screenshot({ path: path.join(results, "00-workbench.png") });

    for (const [index, step] of steps.entries()) {
      if (interrupted) break;
      if (only && !only.test(step.name)) continue;
      const shot = path.join(results, `${String(index + 1).padStart(2, "0")}-${step.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`);
      const started = Date.now();
      try {
        const detail = await step.run(page, { workspace, env, rolloutServer });
        outcomes.push({ step, ok: true, detail, seconds: (Date.now() - started) / 1000 });
        log(`ok   ${step.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${detail}`);
      } catch (error) {
        outcomes.push({ step, ok: false, detail: failureDetail(error) });
        log(`FAIL ${step.name}: ${failureDetail(error)}  [waits on: ${step.waitsOn}]`);
        fs.writeFileSync(`${shot}.txt`, await page.locator("body").innerText().catch(() => ""));
      }
      await page.screenshot({ path: `${shot}.png` }).catch(() => undefined);
      await page.keyboard.press("Escape").catch(() => undefined);
    }
  } finally {
    await browser.close();
    copyLogs(userDataDir);
  }

  const failed = outcomes.filter((outcome) => !outcome.ok);
  fs.writeFileSync(path.join(results, "results.json"), JSON.stringify(outcomes.map(({ step, ...rest }) => ({ name: step.name, waitsOn: step.waitsOn, ...rest })), null, 2));
  log(`screenshots and logs in ${path.relative(repo, results)}/`);
  process.stdout.write(`e2e: ${outcomes.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length ? 1 : 0;
}

/** A step's error in one line; for a Playwright timeout, with what it waited for (its call log). */
function failureDetail(error) {
  const lines = String(error?.message ?? error).split("\n");
  const waited = lines.find((line) => /^\s*- waiting for /.test(line));
  return waited ? `${lines[0]} (${waited.trim().replace(/^- /, "")})` : lines[0];
}

/** VS Code's own logs (the Promptwise output channel among them), for a failed run. */
function copyLogs(userDataDir) {
  const logs = path.join(userDataDir, "logs");
  if (fs.existsSync(logs)) fs.cpSync(logs, path.join(results, "vscode-logs"), { recursive: true });
}

let cleaning;
/** Closes the browser, ends our processes and removes the temporary workspace (once). */
function cleanUp() {
  cleaning ??= (async () => {
    await Promise.race([browser?.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await stopAll();
    // The extension starts `promptwise serve` in a process group of its own (stopAll's groups miss
    // it): a step that failed before stopping it leaves one, found by the workspace in its arguments.
    if (tmp) {
      for (const pid of pidsWhere((args) => args.includes("serve") && args.some((arg) => arg.startsWith(tmp)))) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // gone, or not a group leader
        }
      }
    }
    if (tmp && !process.env.PROMPTWISE_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

// An interrupted run (Ctrl-C, a CI timeout) must not leave code-server and its servers running.
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: stopping the browser, code-server and the servers started`);
    void cleanUp().finally(() => process.exit(code));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`e2e: error: ${error.message}\n`);
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);
