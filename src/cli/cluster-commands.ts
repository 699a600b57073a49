import type { Command } from "commander";
import type { AuditEvent } from "../gen/gastrolog/v1/admin_pb.js";
import { UNARY_TIMEOUT_MS } from "./admin-client.js";
import {
  type AdminOptions,
  examples,
  homeOption,
  outputOption,
  withAdmin,
} from "./command-support.js";
import { parseDurationOption } from "./duration-option.js";
import { isoOrNull, shortTime, toJson } from "./format.js";
import type { CliIo } from "./io.js";
import { joinAddressOf, renderNewToken } from "./join-command.js";
import { followOperation } from "./progress.js";
import { memberToJson, renderMembersTable, renderStatus, statusToJson } from "./status-view.js";
import { renderTable } from "./table.js";

/** How long `cluster promote` waits for a node to catch up, unless --timeout says otherwise. */
const DEFAULT_PROMOTE_TIMEOUT_S = 60;

/** An audit event as JSON. */
export function auditEventToJson(e: AuditEvent): {
  at: string | null;
  kind: string;
  nodeId: string;
  actor: string;
  details: Record<string, string>;
} {
  return {
    at: isoOrNull(e.atUnixMs),
    kind: e.kind,
    nodeId: e.nodeId,
    actor: e.actor,
    details: { ...e.details },
  };
}

/** `gastrolog cluster ...`: status, nodes, remove, promote, demote, transfer-leader, audit. */
export function registerClusterCommands(program: Command, io: CliIo): void {
  const cluster = program
    .command("cluster")
    .description("show and manage the cluster's members")
    .helpCommand(false);

  examples(
    outputOption(
      homeOption(
        cluster
          .command("status")
          .description("this node's view of the cluster, with live health of every member"),
      ),
    ),
    [
      "gastrolog cluster status",
      "gastrolog cluster status -o json | jq '.members[] | select(.healthy | not)'",
    ],
  )
    .addHelpText("after", "\nIn the members table, * marks the node answering.")
    .action(async (opts: AdminOptions) => {
      await withAdmin(io, opts, async (admin) => {
        const s = await admin.cluster.getStatus({}, { timeoutMs: UNARY_TIMEOUT_MS });
        io.stdout(opts.output === "json" ? toJson(statusToJson(s)) : renderStatus(s, io.now()));
      });
    });

  examples(
    outputOption(
      homeOption(
        cluster
          .command("nodes")
          .description("list the members recorded in the config store, with live health"),
      ),
    ),
    ["gastrolog cluster nodes", "gastrolog cluster nodes -o json"],
  ).action(async (opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.cluster.listNodes({}, { timeoutMs: UNARY_TIMEOUT_MS });
      io.stdout(
        opts.output === "json"
          ? toJson({ members: res.members.map(memberToJson) })
          : renderMembersTable(res.members),
      );
    });
  });

  examples(
    homeOption(
      cluster
        .command("remove")
        .description(
          "evict a node: take it out of Raft, then rotate the cluster certificate and the reusable join token so it can neither connect nor re-enroll",
        )
        .argument("<node>", "node id or unique name")
        .option("--rotate-ca", "also rotate the CA (when the node may be compromised)")
        .option("--force", "allow removing the last voter or a node whose loss breaks quorum"),
    ),
    ["gastrolog cluster remove node-3", "gastrolog cluster remove node-3 --rotate-ca"],
  ).action(async (node: string, opts: AdminOptions & { rotateCa?: boolean; force?: boolean }) => {
    await withAdmin(io, opts, async (admin) => {
      const outcome = await followOperation(
        admin.cluster.removeNode({
          node,
          rotateCa: opts.rotateCa === true,
          force: opts.force === true,
        }),
        io,
        { what: `removing ${node}`, checkWith: "gastrolog cluster status" },
      );
      io.stdout(`${outcome.final.message || `removed ${node}`}\n`);
      if (outcome.newToken) {
        io.stdout(
          `\n${renderNewToken(outcome.newToken, await joinAddressOf(admin), {
            heading:
              "The reusable join token was rotated. New token (shown once; store it safely):",
          })}`,
        );
      }
    });
  });

  examples(
    homeOption(
      cluster
        .command("promote")
        .description("make a nonvoter a voter, once it has caught up")
        .argument("<node>", "node id or unique name")
        .option(
          "--timeout <duration>",
          `how long to wait for the node to catch up (default: ${DEFAULT_PROMOTE_TIMEOUT_S}s)`,
          parseDurationOption,
        ),
    ),
    ["gastrolog cluster promote node-4", "gastrolog cluster promote node-4 --timeout 5m"],
  ).action(async (node: string, opts: AdminOptions & { timeout?: number }) => {
    const timeoutS = opts.timeout ?? DEFAULT_PROMOTE_TIMEOUT_S;
    await withAdmin(io, opts, async (admin) => {
      await admin.cluster.promoteNode(
        { node, timeoutMs: BigInt(timeoutS * 1000) },
        // The node's own wait is the bound; the call deadline only guards a hung node.
        { timeoutMs: timeoutS * 1000 + UNARY_TIMEOUT_MS },
      );
      io.stdout(`promoted ${node} to voter\n`);
    });
  });

  examples(
    homeOption(
      cluster
        .command("demote")
        .description("make a voter a nonvoter (the last voter cannot be demoted)")
        .argument("<node>", "node id or unique name"),
    ),
    ["gastrolog cluster demote node-4"],
  ).action(async (node: string, opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      await admin.cluster.demoteNode({ node }, { timeoutMs: UNARY_TIMEOUT_MS });
      io.stdout(`demoted ${node} to nonvoter\n`);
    });
  });

  examples(
    homeOption(
      cluster
        .command("transfer-leader")
        .description("move leadership to a node, or to the most up-to-date voter")
        .argument("[node]", "node id or unique name (default: the most up-to-date voter)"),
    ),
    ["gastrolog cluster transfer-leader", "gastrolog cluster transfer-leader node-2"],
  ).action(async (node: string | undefined, opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.cluster.transferLeader(
        { node: node ?? "" },
        { timeoutMs: UNARY_TIMEOUT_MS },
      );
      io.stdout(`leader is now ${res.leaderId}\n`);
    });
  });

  examples(
    outputOption(
      homeOption(
        cluster
          .command("audit")
          .description("the security audit trail, oldest first (never contains secrets)"),
      ),
    ),
    [
      "gastrolog cluster audit",
      "gastrolog cluster audit -o json | jq '.events[] | select(.kind == \"enroll.failed\")'",
    ],
  ).action(async (opts: AdminOptions) => {
    await withAdmin(io, opts, async (admin) => {
      const res = await admin.cluster.listAudit({}, { timeoutMs: UNARY_TIMEOUT_MS });
      if (opts.output === "json") {
        io.stdout(toJson({ events: res.events.map(auditEventToJson) }));
        return;
      }
      io.stdout(
        renderTable(
          ["TIME", "KIND", "NODE", "ACTOR", "DETAILS"],
          res.events.map((e) => [
            shortTime(e.atUnixMs),
            e.kind,
            e.nodeId || "-",
            e.actor || "-",
            Object.entries(e.details)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => `${k}=${v}`)
              .join(" "),
          ]),
        ),
      );
    });
  });
}
