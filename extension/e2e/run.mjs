// End-to-end tests of the extension in a real VS Code: code-server 4.100.3 driven by
// playwright-core and Debian's chromium. Each step saves a screenshot under
// test-results/e2e/; a failed step also saves the page text and the VS Code logs.
//
// Usage: node extension/e2e/run.mjs   (from the repository root; `npm run test:e2e`)
// Env:   PROMPTWISE_E2E_HOME   where setup.sh installs code-server (default ~/.cache/promptwise-e2e)
//        PROMPTWISE_E2E_PYTHON the interpreter for promptwise.python (default <repo>/.venv/bin/python)
//        PROMPTWISE_E2E_STEPS  a regex: run only the steps whose names match
//        PROMPTWISE_E2E_KEEP=1 keep the temporary workspace and profile for inspection
import { execFileSync, spawn } from "node:child_process";
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

const children = [];
let tmp;

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

function stopAll() {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
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
  const child = startProcess(python, ["-m", "promptwise.devtools.fake_openai", "--port", String(port)], { cwd: repo });
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
  const broken = path.join(workspace, "log-triage-broken");
  fs.cpSync(path.join(workspace, "log-triage"), broken, { recursive: true });
  const flowFile = path.join(broken, "flow.dag.yaml");
  const text = fs.readFileSync(flowFile, "utf8");
  const brokenText = text.replace("llm_output: ${classify.output}", `llm_output: \${${BROKEN_NODE}.output}`);
  if (brokenText === text) throw new Error("could not break the reference in log-triage/flow.dag.yaml: `llm_output: ${classify.output}` not found");
  fs.writeFileSync(flowFile, brokenText);
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
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`>${title}`);
  const item = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await item.waitFor({ state: "visible" });
  await page.keyboard.press("Enter");
}

async function openFile(page, relativePath) {
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(relativePath);
  await page
    .locator(".quick-input-list .monaco-list-row", { hasText: path.basename(relativePath) })
    .first()
    .waitFor({ state: "visible" });
  await page.keyboard.press("Enter");
  await page.locator(".tab.active", { hasText: path.basename(relativePath) }).waitFor({ state: "visible" });
  // The tab title is the file name; make sure the right folder's file is the active editor.
  await page.waitForFunction(
    (expected) => document.querySelector(".tab.active")?.getAttribute("aria-label")?.includes(expected) ?? false,
    path.dirname(relativePath),
    { timeout: 10_000 },
  ).catch(() => undefined);
}

/** Changes user settings as a user would: in the settings.json editor, then save. */
async function editUserSettings(page, overrides) {
  await runCommand(page, "Preferences: Open User Settings (JSON)");
  await page.locator(".tab.active", { hasText: "settings.json" }).waitFor({ state: "visible" });
  await page.locator(".monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+A");
  // insertText types no auto-closed brackets or quotes.
  await page.keyboard.insertText(JSON.stringify(userSettings(overrides), null, 2));
  await page.keyboard.press("Control+S");
  await page.waitForFunction(() => !document.querySelector(".tab.active.dirty"), undefined, { timeout: 10_000 });
  await runCommand(page, "View: Close Editor");
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

// ---- the steps ----------------------------------------------------------------------------

const steps = [
  {
    name: "server starts",
    waitsOn: "python -m promptwise lsp (H7)",
    async run(page) {
      const item = page.locator('.statusbar-item [aria-label^="Promptwise server"]').first();
      await item.waitFor({ state: "attached", timeout: STEP_TIMEOUT_MS });
      await page.waitForFunction(
        () => [...document.querySelectorAll('.statusbar-item [aria-label^="Promptwise server"]')].some((e) => /running/.test(e.getAttribute("aria-label") ?? "")),
        undefined,
        { timeout: STEP_TIMEOUT_MS },
      );
      const label = await item.getAttribute("aria-label");
      if (!/^Promptwise server \S+ running \(.+python.*\)$/.test(label ?? "")) throw new Error(`server status item says "${label}"`);
      return label;
    },
  },
  {
    name: "broken reference shows in the Problems panel",
    waitsOn: "diagnostics for flow.dag.yaml references, PW2xx (H1 analysis + H7 diagnostics)",
    async run(page) {
      await openFile(page, "log-triage-broken/flow.dag.yaml");
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
    async run(page) {
      await openFile(page, "log-triage/flow.dag.yaml");
      const lens = page.locator(".monaco-editor .codelens-decoration", { hasText: "per call" }).first();
      await lens.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const text = (await lens.innerText()).replace(/\s+/g, " ");
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
      if (!parsed || typeof parsed !== "object" || !("category" in parsed)) throw new Error(`outputs lack "category": ${outputs}`);
      return `${message} | outputs: ${Object.keys(parsed).join(", ")}`;
    },
  },
  {
    name: "an interpreter without promptwise is explained, with an offer to install; a setting change restarts",
    waitsOn: "client only",
    async run(page) {
      // Debian's python3 has no promptwise (the package is installed in the repository's .venv).
      const systemPython = "/usr/bin/python3";
      await editUserSettings(page, { "promptwise.python": systemPython });
      const toast = page.locator(".notification-toast", { hasText: "does not have the promptwise package" }).first();
      await toast.waitFor({ state: "visible", timeout: STEP_TIMEOUT_MS });
      const message = (await toast.innerText()).replace(/\s+/g, " ");
      if (!message.includes(systemPython) || !message.includes("pip install")) throw new Error(`notification does not name the interpreter and the pip command: ${message}`);
      await toast.locator(".monaco-button", { hasText: "Install" }).waitFor({ state: "visible" });
      await page.screenshot({ path: path.join(results, "06a-missing-package.png") });
      // Back to the working interpreter: the server restarts by itself.
      await editUserSettings(page, {});
      await page.waitForFunction(
        () => [...document.querySelectorAll('.statusbar-item [aria-label^="Promptwise server"]')].some((e) => /running/.test(e.getAttribute("aria-label") ?? "")),
        undefined,
        { timeout: STEP_TIMEOUT_MS },
      );
      return message.slice(0, 160);
    },
  },
];

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

  const browser = await chromium.launch({
    executablePath: process.env.PROMPTWISE_E2E_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const outcomes = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(30_000);
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 120_000 });
    await page.screenshot({ path: path.join(results, "00-workbench.png") });

    // PROMPTWISE_E2E_STEPS=regex runs only matching steps (for working on one; the suite runs all).
    const only = process.env.PROMPTWISE_E2E_STEPS ? new RegExp(process.env.PROMPTWISE_E2E_STEPS, "i") : undefined;
    for (const [index, step] of steps.entries()) {
      if (only && !only.test(step.name)) continue;
      const shot = path.join(results, `${String(index + 1).padStart(2, "0")}-${step.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`);
      const started = Date.now();
      try {
        const detail = await step.run(page);
        outcomes.push({ step, ok: true, detail, seconds: (Date.now() - started) / 1000 });
        log(`ok   ${step.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${detail}`);
      } catch (error) {
        outcomes.push({ step, ok: false, detail: error.message.split("\n")[0] });
        log(`FAIL ${step.name}: ${error.message.split("\n")[0]}  [waits on: ${step.waitsOn}]`);
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

/** VS Code's own logs (the Promptwise output channel among them), for a failed run. */
function copyLogs(userDataDir) {
  const logs = path.join(userDataDir, "logs");
  if (fs.existsSync(logs)) fs.cpSync(logs, path.join(results, "vscode-logs"), { recursive: true });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  process.stderr.write(`e2e: error: ${error.message}\n`);
  exitCode = 1;
} finally {
  stopAll();
  if (tmp && !process.env.PROMPTWISE_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(exitCode);
