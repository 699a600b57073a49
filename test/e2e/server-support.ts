/**
 * Helpers for the `gastrolog server` end-to-end tests (issue 5, tests 2-7), on top of the
 * shared harness: refused starts, membership and audit snapshots, and waiting for a
 * cluster to settle. Polling goes over the admin socket in-process; assertions that name
 * a CLI command run the CLI.
 */
import { createAdminClient } from "../../src/cli/admin-client.js";
import { auditEventToJson } from "../../src/cli/cluster-commands.js";
import { memberToJson, statusToJson } from "../../src/cli/status-view.js";
import {
  type CliResult,
  type Cluster,
  cli,
  eventually,
  FAST_ENV,
  freeLoopbackPort,
  type StatusJson,
} from "./harness.js";

/** Runs `gastrolog server ARGS` expecting it to exit by itself (a refused start or join). */
export function serverOnce(
  args: readonly string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return cli(["server", "--log-format", "json", ...args], {
    timeoutMs: opts.timeoutMs ?? 30_000,
    env: { ...FAST_ENV, ...opts.env },
  });
}

/** The one plain (non-JSON) `gastrolog: ...` line a refused start writes to stderr. */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("gastrolog:"));
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on, so a connection to it is refused. It is
 * below the ephemeral range (see freeLoopbackPort), so no outgoing connection takes it.
 */
export function closedPort(): Promise<number> {
  return freeLoopbackPort();
}

/** A member as recorded, without the live fields (health, contact) that change by the second. */
export interface MemberRecord {
  id: string;
  name: string;
  suffrage: string;
  clusterAddr: string;
}

/** `cluster nodes -o json` on `name`, reduced to the recorded fields, sorted by id. */
export async function memberRecords(c: Cluster, name: string): Promise<MemberRecord[]> {
  const r = await c.cliJson<{ members: MemberRecord[] }>(name, ["cluster", "nodes"]);
  return r.members
    .map((m) => ({ id: m.id, name: m.name, suffrage: m.suffrage, clusterAddr: m.clusterAddr }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** One audit event as `cluster audit -o json` prints it. */
export interface AuditJson {
  at: string | null;
  kind: string;
  nodeId: string;
  actor: string;
  details: Record<string, string>;
}

/** `cluster audit -o json` on `name`. */
export async function auditEvents(c: Cluster, name: string): Promise<AuditJson[]> {
  return (await c.cliJson<{ events: AuditJson[] }>(name, ["cluster", "audit"])).events;
}

/**
 * Polls `cluster status` on every node in `names` until all agree on one leader and each
 * sees `members` healthy members, all voters unless listed in `nonvoters`. Returns the
 * statuses (in the order of `names`) and the leader's node name.
 */
export async function settled(
  c: Cluster,
  names: readonly string[],
  o: { members?: number; nonvoters?: readonly string[]; timeoutMs?: number } = {},
): Promise<{ statuses: StatusJson[]; leader: string }> {
  const want = o.members ?? names.length;
  const nonvoters = new Set(o.nonvoters ?? []);
  return eventually(
    async () => {
      const statuses = await Promise.all(names.map((n) => statusOf(c, n)));
      const leaders = new Set(statuses.map((s) => s.leaderId));
      if (leaders.size !== 1 || !statuses[0]?.leaderId) return undefined;
      const ok = statuses.every(
        (s) =>
          s.members.length === want &&
          s.members.every(
            (m) => m.healthy && m.suffrage === (nonvoters.has(m.name) ? "nonvoter" : "voter"),
          ),
      );
      if (!ok) return undefined;
      const leader = statuses.find((s) => s.role === "leader");
      return leader ? { statuses, leader: leader.nodeName } : undefined;
    },
    `${names.join(", ")} to agree on a leader with ${want} healthy members`,
    o.timeoutMs ?? 30_000,
    100,
  );
}

/**
 * `cluster status` of node `name` as the CLI's `-o json` prints it, fetched in-process over
 * the node's admin socket (the same call the CLI makes). For polling: spawning the CLI
 * costs a Node start-up per poll.
 */
export async function statusOf(c: Cluster, name: string): Promise<StatusJson> {
  const admin = createAdminClient({ home: c.homeOf(name) });
  try {
    const s = await admin.cluster.getStatus({}, { timeoutMs: 10_000 });
    return statusToJson(s) as unknown as StatusJson;
  } finally {
    admin.close();
  }
}

/** `config put` on node `name` over its admin socket, in-process (for bulk writes). */
export async function putInProcess(
  c: Cluster,
  name: string,
  key: string,
  value: string,
): Promise<void> {
  const admin = createAdminClient({ home: c.homeOf(name) });
  try {
    await admin.config.put({ key, value: new TextEncoder().encode(value) }, { timeoutMs: 10_000 });
  } finally {
    admin.close();
  }
}

/**
 * Membership and audit trail of node `name`, exactly as `cluster nodes -o json` and
 * `cluster audit -o json` print them (the CLI's own formatters), minus the live fields;
 * fetched in-process to keep before/after checks cheap.
 */
export async function stateSnapshot(
  c: Cluster,
  name: string,
): Promise<{ members: MemberRecord[]; audit: AuditJson[] }> {
  const admin = createAdminClient({ home: c.homeOf(name) });
  try {
    const [nodes, audit] = await Promise.all([
      admin.cluster.listNodes({}, { timeoutMs: 10_000 }),
      admin.cluster.listAudit({}, { timeoutMs: 10_000 }),
    ]);
    return {
      members: nodes.members
        .map(memberToJson)
        .map((m) => ({ id: m.id, name: m.name, suffrage: m.suffrage, clusterAddr: m.clusterAddr }))
        .sort((a, b) => a.id.localeCompare(b.id)),
      audit: audit.events.map(auditEventToJson),
    };
  } finally {
    admin.close();
  }
}
