import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeFileAtomic } from "./atomic-file.js";

test("writeFileAtomic: creates with mode 0600, replaces content, leaves no temp file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gastrolog-atomic-"));
  try {
    const p = join(dir, "sub", "secret");
    await writeFileAtomic(p, "one");
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    await writeFileAtomic(p, "two");
    assert.equal(await readFile(p, "utf8"), "two");
    assert.deepEqual(await readdir(join(dir, "sub")), ["secret"]);
    const q = join(dir, "public.pem");
    await writeFile(q, "old", { mode: 0o644 });
    await writeFileAtomic(q, "new", { mode: 0o644 });
    assert.equal((await stat(q)).mode & 0o777, 0o644);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
