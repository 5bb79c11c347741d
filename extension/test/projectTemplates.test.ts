import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ADD_FILES_HERE,
  CHOOSE_ANOTHER_FOLDER,
  initFailure,
  initProjectArgs,
  initReport,
  initSummary,
  nonEmptyFolderQuestion,
  PROJECT_TEMPLATES,
} from "../src/projectTemplates";

describe("New Promptwise Project", () => {
  it("offers the four templates of promptwise init", () => {
    assert.deepEqual(PROJECT_TEMPLATES.map((t) => t.id), ["chat", "rag", "classifier", "prompty"]);
  });
  it("runs promptwise init in the chosen folder with the template", () => {
    assert.deepEqual(initProjectArgs("/home/me/new", "rag"), ["-m", "promptwise", "init", "/home/me/new", "--template", "rag"]);
  });
  it("refuses a template init does not know", () => {
    assert.throws(() => initProjectArgs("/x", "--force"));
  });
  it("shows init's own last line when it refuses", () => {
    assert.equal(initFailure("promptwise: error: /x: the folder is not empty; choose an empty folder\n"), "/x: the folder is not empty; choose an empty folder");
    assert.equal(initFailure("", "ENOENT"), "ENOENT");
  });
});

describe("New Promptwise Project in a folder that is not empty", () => {
  it("adds --force only when the user chose to add the files beside what is there", () => {
    assert.deepEqual(initProjectArgs("/w/p", "chat", { force: true }), ["-m", "promptwise", "init", "/w/p", "--template", "chat", "--force"]);
    assert.deepEqual(initProjectArgs("/w/p", "chat", { force: false }), ["-m", "promptwise", "init", "/w/p", "--template", "chat"]);
  });
  it("asks with what is there, and says nothing is overwritten", () => {
    const question = nonEmptyFolderQuestion("/w/p", ["notes.txt", "b", "a", "c", "d", "e", "f"]);
    assert.equal(question.message, "/w/p is not empty");
    assert.match(question.detail, /^It holds 7 items: a, b, c, d, e, and 2 more\./);
    assert.match(question.detail, /kept as it is, never overwritten/);
    assert.match(nonEmptyFolderQuestion("/w/p", ["x"]).detail, /^It holds 1 item: x\./);
    assert.notEqual(ADD_FILES_HERE, CHOOSE_ANOTHER_FOLDER);
  });
  it("reads what init created, kept and warned about (a warning's indented lines included)", () => {
    const report = initReport(
      "created /w/p/flow.dag.yaml\ncreated /w/p/chat.jinja2\n\nNext: follow README.md\n",
      "kept    /w/p/promptwise.yaml (already there; not overwritten)\nkept    /w/p/README.md (already there; not overwritten)\n" +
        "promptwise: warning: /w/p/promptwise.yaml was kept and does not define the connection `local`; add under `connections:`\n  local: {type: openai_compatible}\n",
    );
    assert.deepEqual(report, {
      created: 2,
      kept: ["/w/p/promptwise.yaml", "/w/p/README.md"],
      warnings: ["/w/p/promptwise.yaml was kept and does not define the connection `local`; add under `connections:` local: {type: openai_compatible}"],
    });
    assert.equal(initSummary("Chat flow", "/w/p", report),
      "created a Chat flow project in /w/p (2 files). Kept 2 files already there (not overwritten): promptwise.yaml, README.md. " +
        "/w/p/promptwise.yaml was kept and does not define the connection `local`; add under `connections:` local: {type: openai_compatible} " +
        "Its README.md says how to run it on the local scripted model.");
    assert.equal(initSummary("Prompty", "/w/q", initReport("created /w/q/chat.prompty\n", "")),
      "created a Prompty project in /w/q (1 file). Its README.md says how to run it on the local scripted model.");
  });
});
