/**
 * A 3-node gastrolog cluster of real `gastrolog server` processes (bin/gastrolog, built
 * by `npm run build`), durable and with production timing: the GASTROLOG_* timing
 * overrides the tests use are removed from the environment. n1 bootstraps, n2 and n3 join
 * with n1's token; the cluster is ready once Raft has three voters and a leader.
 *
 * Nodes can be started with extra node flags (--cpu-prof) for profiling.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createAdminClient } from "../../src/cli/admin-client.js";
import { eventually as pollUntil } from "../../test/e2e/harness.js";
import type { Cleanup } from "./cleanup.js";
import { ServerProcess } from "./server-process.js";

const ROOT = new URL("../..", import.meta.url).pathname;
/** The CLI entry point, as operators run it. */
const BIN = join(ROOT, "bin", "gastrolog");

/** One running node. */
export interface GastrologNode {
  name: string;
  home: string;
  pid: number;
  proc: ServerProcess;
}

/** The running cluster. */
export interface GastrologCluster {
  readonly nodes: readonly GastrologNode[];
  /** The node reporting role "leader", and agreed on by the others (polled with a deadline). */
  leader(timeoutMs?: number): Promise<GastrologNode>;
  /** SIGTERM every node (a clean shutdown, which also writes --cpu-prof profiles). */
  stop(): Promise<void>;
}

/** Options of {@link startGastrologCluster}. */
export interface GastrologClusterOptions {
  /** Parent directory for the node homes (removed by the caller's cleanup). */
  dir: string;
  size?: number;
  /** Extra node flags per node name, e.g. { n1: ["--cpu-prof", ...] }. */
  nodeFlags?: Record<string, string[]>;
  cleanup: Cleanup;
  /** How long forming the cluster (bootstrap, joins, promotion) may take. */
  timeoutMs?: number;
}

/** The environment of a production node: no test timing overrides. */
function productionEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("GASTROLOG_")) delete env[k];
  delete env.NODE_OPTIONS;
  return env;
}

async function status(home: string) {
  const admin = createAdminClient({ home });
  try {
    return await admin.cluster.getStatus({}, { timeoutMs: 5000 });
  } finally {
    admin.close();
  }
}

/** Starts the nodes, waits for three voters and a leader, and returns the cluster. */
export async function startGastrologCluster(o: GastrologClusterOptions): Promise<GastrologCluster> {
  if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) {
    throw new Error("dist/ is missing: run `npm run build` first (the servers run compiled code)");
  }
  const size = o.size ?? 3;
  const nodes: GastrologNode[] = [];
  const start = (name: string, extra: string[]): GastrologNode => {
    const home = join(o.dir, name);
    const args = [
      ...(o.nodeFlags?.[name] ?? []),
      BIN,
      "server",
      "--home",
      home,
      "--name",
      name,
      "--listen",
      "127.0.0.1:0",
      "--cluster-addr",
      "127.0.0.1:0",
      "--log-format",
      "json",
      "--log-level",
      "info",
      ...extra,
    ];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: productionEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = new ServerProcess(name, child);
    if (child.pid === undefined) throw new Error(`could not start ${BIN}`);
    o.cleanup.ownPid(child.pid, async (sig) => {
      await proc.stop(sig, 5000);
    });
    const node = { name, home, pid: child.pid, proc };
    nodes.push(node);
    return node;
  };

  const n1 = start("n1", ["--bootstrap"]);
  const s1 = await n1.proc.serving(o.timeoutMs ?? 60_000);
  const token = (await readFile(join(n1.home, "join-token"), "utf8")).trim();
  for (let i = 2; i <= size; i++) {
    const n = start(`n${i}`, ["--join-addr", s1.clusterAddr, "--join-token", token]);
    await n.proc.serving(o.timeoutMs ?? 60_000);
  }
  await pollUntil(
    async () => {
      const st = await status(n1.home);
      const voters = st.members.filter((m) => m.suffrage === "voter" && m.healthy);
      return voters.length === size && st.leaderId !== "" ? true : undefined;
    },
    `gastrolog: ${size} healthy voters`,
    o.timeoutMs ?? 60_000,
    200,
  );
  return {
    nodes,
    leader: (timeoutMs = 10_000) =>
      pollUntil(
        async () => {
          const st = await Promise.all(nodes.map((n) => status(n.home)));
          const leaders = new Set(st.map((s) => s.leaderId));
          const i = st.findIndex((s) => s.role === "leader");
          if (leaders.size !== 1 || i < 0) return undefined;
          return nodes[i];
        },
        "gastrolog: one agreed leader",
        timeoutMs,
      ),
    async stop() {
      await Promise.all(nodes.map((n) => n.proc.stop("SIGTERM", 10_000)));
    },
  };
}
