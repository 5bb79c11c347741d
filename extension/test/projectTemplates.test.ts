import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { initFailure, initProjectArgs, PROJECT_TEMPLATES } from "../src/projectTemplates";

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
