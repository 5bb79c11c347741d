// Tokenizes real snippets with the TextMate engine VS Code uses (vscode-textmate + oniguruma).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as oniguruma from "vscode-oniguruma";
import * as textmate from "vscode-textmate";

const extensionDir = path.resolve(__dirname, "..", "..");
const repoRoot = path.resolve(extensionDir, "..");
const grammarFiles: Record<string, string> = {
  "source.prompty": path.join(extensionDir, "syntaxes", "prompty.tmLanguage.json"),
  "source.jinja.promptwise": path.join(extensionDir, "syntaxes", "jinja.tmLanguage.json"),
};

let registry: textmate.Registry;

before(async () => {
  const wasm = fs.readFileSync(path.join(repoRoot, "node_modules", "vscode-oniguruma", "release", "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text: string) => new oniguruma.OnigString(text),
    }),
    // source.yaml is VS Code's own grammar; outside VS Code the front matter just stays unscoped YAML.
    loadGrammar: async (scope: string) => {
      const file = grammarFiles[scope];
      return file ? textmate.parseRawGrammar(fs.readFileSync(file, "utf8"), file) : null;
    },
  });
});

/** Scopes of the token that covers `needle` on line `lineIndex`. */
async function scopesAt(scope: string, text: string, lineIndex: number, needle: string): Promise<string[]> {
  const grammar = await registry.loadGrammar(scope);
  assert.ok(grammar, `grammar ${scope} loads`);
  let state = textmate.INITIAL;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const result = grammar.tokenizeLine(lines[i], state);
    if (i === lineIndex) {
      const column = lines[i].indexOf(needle);
      assert.ok(column >= 0, `"${needle}" on line ${i}`);
      const token = result.tokens.find((t) => t.startIndex <= column && column < t.endIndex)!;
      return token.scopes;
    }
    state = result.ruleStack;
  }
  throw new Error(`no line ${lineIndex}`);
}

const prompty = [
  "---",
  "name: Claim summary",
  "model:",
  "  api: chat",
  "---",
  "system:",
  "You summarise insurance claims. {# reviewer note #}",
  "user:",
  "{% for item in history %}{{ item.text | trim }}{% endfor %}",
  "Claim: {{ claim_text }}",
].join("\n");

describe("prompty grammar", () => {
  it("front matter is embedded YAML", async () => {
    assert.ok((await scopesAt("source.prompty", prompty, 1, "name")).includes("meta.embedded.block.frontmatter"));
  });
  it("the closing --- ends the front matter", async () => {
    const scopes = await scopesAt("source.prompty", prompty, 6, "You summarise");
    assert.ok(!scopes.includes("meta.embedded.block.frontmatter"), scopes.join(" "));
  });
  it("role lines are headings", async () => {
    assert.ok((await scopesAt("source.prompty", prompty, 5, "system")).some((s) => s.startsWith("entity.name.section.role")));
    assert.ok((await scopesAt("source.prompty", prompty, 7, "user")).some((s) => s.startsWith("entity.name.section.role")));
  });
  it("a role word inside a sentence is not a role line", async () => {
    const scopes = await scopesAt("source.prompty", "system: and more text", 0, "system");
    assert.ok(!scopes.some((s) => s.startsWith("entity.name.section.role")));
  });
  it("Jinja in the body: statements, expressions, filters, comments", async () => {
    assert.ok((await scopesAt("source.prompty", prompty, 8, "for")).includes("keyword.control.jinja"));
    assert.ok((await scopesAt("source.prompty", prompty, 8, "trim")).includes("support.function.filter.jinja"));
    assert.ok((await scopesAt("source.prompty", prompty, 9, "claim_text")).includes("variable.other.jinja"));
    assert.ok((await scopesAt("source.prompty", prompty, 6, "reviewer")).includes("comment.block.jinja"));
  });
});

describe("jinja grammar", () => {
  const template = ["# system:", "Classify this log line.", "{{ log_line }}", "{% if severity == 'high' %}urgent{% endif %}"].join("\n");
  it("Prompt flow's '# system:' role line", async () => {
    assert.ok((await scopesAt("source.jinja.promptwise", template, 0, "system")).some((s) => s.startsWith("entity.name.section.role")));
  });
  it("plain text stays plain", async () => {
    assert.deepEqual(await scopesAt("source.jinja.promptwise", template, 1, "Classify"), ["source.jinja.promptwise"]);
  });
  it("strings inside statements", async () => {
    assert.ok((await scopesAt("source.jinja.promptwise", template, 3, "'high'")).includes("string.quoted.single.jinja"));
  });
});
