import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveHome } from "./home.js";

const where = (env: Record<string, string | undefined>) => ({ env, homedir: () => "/home/op" });

describe("resolveHome", () => {
  const all = { GASTROLOG_HOME: "/srv/gl", XDG_DATA_HOME: "/data" };

  it("prefers --home over everything", () => {
    assert.equal(resolveHome("/opt/node1", where(all)), "/opt/node1");
  });

  it("makes a relative --home absolute against the working directory", () => {
    assert.equal(resolveHome("n1", where(all)), `${process.cwd()}/n1`);
  });

  it("uses $GASTROLOG_HOME without --home", () => {
    assert.equal(resolveHome(undefined, where(all)), "/srv/gl");
  });

  it("uses $XDG_DATA_HOME/gastrolog without $GASTROLOG_HOME", () => {
    assert.equal(resolveHome(undefined, where({ XDG_DATA_HOME: "/data" })), "/data/gastrolog");
  });

  it("falls back to ~/.local/share/gastrolog", () => {
    assert.equal(resolveHome(undefined, where({})), "/home/op/.local/share/gastrolog");
  });

  it("treats empty variables and an empty --home as unset", () => {
    assert.equal(
      resolveHome("", where({ GASTROLOG_HOME: "", XDG_DATA_HOME: "" })),
      "/home/op/.local/share/gastrolog",
    );
  });

  it("ignores a relative $XDG_DATA_HOME, as the XDG spec requires", () => {
    assert.equal(
      resolveHome(undefined, where({ XDG_DATA_HOME: "data" })),
      "/home/op/.local/share/gastrolog",
    );
  });
});
