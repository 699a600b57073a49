#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test through tsx.
// Extra arguments are passed as file filters (substring match on the path).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
for (const dir of ["src", "test"]) {
  for (const e of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith(".test.ts")) continue;
    const p = relative(root, join(e.parentPath, e.name));
    if (filters.length === 0 || filters.some((f) => p.includes(f))) files.push(p);
  }
}
files.sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(r.status ?? 1);
