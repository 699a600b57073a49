import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createRaftStorage } from "./raft-storage.js";

const child = fileURLToPath(new URL("./crash-child.test-util.ts", import.meta.url));

/** Runs the writer child until it has acknowledged `acks` saves, then SIGKILLs it. */
async function runAndKill(dir: string, acks: number): Promise<number[]> {
  const proc = spawn(process.execPath, ["--import", "tsx", child, dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked: number[] = [];
  let stderr = "";
  let buf = "";
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 60_000).unref();
  try {
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) =>
      proc.on("exit", (code, signal) => resolve(signal ?? code)),
    );
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    proc.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) acked.push(Number(l));
      if (acked.length >= acks && proc.exitCode === null && proc.pid)
        process.kill(proc.pid, "SIGKILL");
    });
    const how = await exit;
    assert.equal(how, "SIGKILL", `child ended with ${String(how)} before ${acks} acks: ${stderr}`);
    assert.ok(acked.length >= acks, `only ${acked.length} acks before the child died: ${stderr}`);
    return acked;
  } finally {
    clearTimeout(deadline);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  }
}

test("crash durability: every save acknowledged before SIGKILL is on disk after reopen", async () => {
  const dir = mkdtempSync(join(tmpdir(), "raft-crash-"));
  try {
    for (const round of [1, 2]) {
      const acked = await runAndKill(dir, 150);
      const s = await createRaftStorage({ dir, logger: pino({ level: "silent" }) });
      try {
        const { entries, hardState } = s.load();
        const byIndex = new Map(entries.map((e) => [e.index, e]));
        for (const i of acked) {
          const e = byIndex.get(i);
          assert.ok(
            e,
            `round ${round}: acknowledged index ${i} is missing (log ends at ${s.log.lastIndex()})`,
          );
          assert.deepEqual(e.data, new Uint8Array(256).fill(i & 0xff));
        }
        assert.ok(
          hardState.commit >= Math.max(...acked),
          `round ${round}: commit ${hardState.commit} lost`,
        );
        for (const [k, e] of entries.entries()) assert.equal(e.index, k + 1, "contiguous from 1");
      } finally {
        await s.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
