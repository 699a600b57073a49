/**
 * A static 3-member etcd cluster on loopback, the benchmark's baseline: Debian's
 * `etcd-server` with its defaults (fsync on every commit, heartbeat 100 ms, election
 * 1000 ms — the same timing gastrolog runs in production), each member in its own data
 * directory, formed with --initial-cluster. Members are ended by PID.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { eventually as pollUntil } from "../../test/e2e/harness.js";
import type { Cleanup } from "./cleanup.js";
import { freePorts } from "./free-port.js";

/** One running etcd member. */
export interface EtcdMember {
  name: string;
  pid: number;
  clientUrl: string;
  /** The member id etcd reports in response headers (decimal string). */
  id: string;
}

/** The running cluster. */
export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** The member every other member names as leader (polled with a deadline). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Stops every member (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** Parent directory for the members' data dirs (removed by the caller's cleanup). */
  dir: string;
  size?: number;
  binary?: string;
  cleanup: Cleanup;
  /** How long formation (all members up, one leader) may take. */
  timeoutMs?: number;
}

/** Throws a clear, actionable error when the etcd binary is not there. */
export function checkEtcdInstalled(binary = "etcd"): string {
  const r = spawnSync(binary, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `etcd is needed as the baseline but \`${binary} --version\` failed (${r.error?.message ?? r.stderr.trim()}); install it with: apt-get install etcd-server`,
    );
  }
  return (/etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? "unknown").trim();
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once("exit", () => r()));
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals, graceMs: number) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await waitExit(child);
  clearTimeout(t);
}

/** Starts the members, waits until they agree on a leader, and returns the cluster. */
export async function startEtcdCluster(o: EtcdClusterOptions): Promise<EtcdCluster> {
  const size = o.size ?? 3;
  const binary = o.binary ?? "etcd";
  const ports = await freePorts(size * 2);
  const names = Array.from({ length: size }, (_, i) => `e${i + 1}`);
  const peerUrl = (i: number) => `http://127.0.0.1:${ports[size + i]}`;
  const clientUrl = (i: number) => `http://127.0.0.1:${ports[i]}`;
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(",");
  const children: ChildProcess[] = [];
  const tails: string[][] = [];
  for (const [i, name] of names.entries()) {
    const child = spawn(
      binary,
      [
        "--name",
        name,
        "--data-dir",
        join(o.dir, name),
        "--listen-client-urls",
        clientUrl(i),
        "--advertise-client-urls",
        clientUrl(i),
        "--listen-peer-urls",
        peerUrl(i),
        "--initial-advertise-peer-urls",
        peerUrl(i),
        "--initial-cluster",
        initialCluster,
        "--initial-cluster-token",
        `bench-${process.pid}`,
        "--initial-cluster-state",
        "new",
        "--logger",
        "zap",
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: "" } },
    );
    const tail: string[] = [];
    tails.push(tail);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      tail.push(...d.split("\n").filter(Boolean));
      tail.splice(0, Math.max(0, tail.length - 20));
    });
    children.push(child);
    const pid = child.pid;
    if (pid === undefined) {
      throw new Error(`could not start ${binary} (is it installed? apt-get install etcd-server)`);
    }
    o.cleanup.ownPid(pid, (sig) => killAndWait(child, sig, 5000));
  }
  const diedEarly = () => {
    const i = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
    if (i >= 0) {
      throw new Error(
        `etcd member ${names[i]} exited (${children[i]!.exitCode ?? children[i]!.signalCode}) during formation; stderr tail:\n${tails[i]!.join("\n")}`,
      );
    }
  };

  const clients = names.map((_, i) => new Etcd3({ hosts: clientUrl(i), dialTimeout: 2000 }));
  try {
    const ids = await pollUntil(
      async () => {
        diedEarly();
        const st = await Promise.all(clients.map((c) => c.maintenance.status()));
        const leaders = new Set(st.map((s) => s.leader));
        if (leaders.size !== 1 || st[0]!.leader === "0") return undefined;
        return st.map((s) => s.header.member_id);
      },
      "etcd: all members up with one leader",
      o.timeoutMs ?? 30_000,
    );
    const members = names.map((name, i) => ({
      name,
      pid: children[i]!.pid!,
      clientUrl: clientUrl(i),
      id: ids[i]!,
    }));
    return {
      members,
      leader: (timeoutMs = 10_000) =>
        pollUntil(
          async () => {
            diedEarly();
            const st = await Promise.all(clients.map((c) => c.maintenance.status()));
            const leaders = new Set(st.map((s) => s.leader));
            if (leaders.size !== 1) return undefined;
            return members.find((m) => m.id === st[0]!.leader);
          },
          "etcd: one agreed leader",
          timeoutMs,
        ),
      async stop() {
        for (const c of clients) c.close();
        await Promise.all(children.map((c) => killAndWait(c, "SIGTERM", 5000)));
      },
    };
  } catch (err) {
    for (const c of clients) c.close();
    throw err;
  }
}
