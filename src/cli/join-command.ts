import type { AdminClient } from "./admin-client.js";
import { UNARY_TIMEOUT_MS } from "./admin-client.js";

/** Shown when no member's cluster address can be learnt from the node. */
export const JOIN_ADDR_PLACEHOLDER = "<cluster address of any member>";

/**
 * The cluster address a new node should dial: the advertised cluster address of the node
 * the CLI talks to (it is certainly a member), else any member's, else a placeholder.
 * Best effort: a status failure must not hide a token that was already created.
 */
export async function joinAddressOf(admin: AdminClient): Promise<string> {
  try {
    const s = await admin.cluster.getStatus({}, { timeoutMs: UNARY_TIMEOUT_MS });
    const self = s.members.find((m) => m.id === s.nodeId && m.clusterAddr);
    const any = s.members.find((m) => m.clusterAddr);
    return self?.clusterAddr || any?.clusterAddr || JOIN_ADDR_PLACEHOLDER;
  } catch {
    return JOIN_ADDR_PLACEHOLDER;
  }
}

/** The ready-to-paste command that joins a node with `token`. */
export function joinCommand(joinAddr: string, token: string, nonvoter: boolean): string {
  const addr = joinAddr.includes("<") ? `'${joinAddr}'` : joinAddr;
  return `gastrolog server --join-addr ${addr} --join-token ${token}${nonvoter ? " --nonvoter" : ""}`;
}

/** The block printed once after a token is made: the secret and how to use it. */
export function renderNewToken(
  token: string,
  joinAddr: string,
  options: { nonvoter?: boolean; heading?: string } = {},
): string {
  return [
    options.heading ?? "Join token (shown once; store it safely):",
    "",
    `  ${token}`,
    "",
    "Join a node with:",
    "",
    `  ${joinCommand(joinAddr, token, options.nonvoter ?? false)}`,
    "",
  ].join("\n");
}
