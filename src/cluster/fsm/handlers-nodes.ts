/**
 * Members: enrollment (one command consumes a token use and records the node),
 * removal (optionally with a certificate rotation and a reusable-token
 * rotation in the same entry: eviction is revocation), and updates of the
 * recorded suffrage and addresses.
 */

import type {
  ConfigCommand_EnrollNode,
  ConfigCommand_RemoveNode,
  ConfigCommand_UpdateNode,
  ConfigNodeInfo,
} from "../../gen/gastrolog/v1/config_pb.js";
import { ConfigSuffrage } from "../../gen/gastrolog/v1/config_pb.js";
import type { Handler } from "./context.js";
import { appendAudit } from "./context.js";
import { planBeginRotation } from "./handlers-tls.js";
import { hashesEqual, planRotateReusableToken } from "./handlers-tokens.js";
import { FSM_LIMITS } from "./limits.js";
import type { Refusal } from "./result.js";
import { refuse } from "./result.js";
import { voterCount } from "./state.js";
import { checkAddr, checkId, checkSecretHash, checkText } from "./validate.js";
import type { Suffrage } from "./views.js";
import { targetSuffrage, tokenState } from "./views.js";

/** A node's self-description after validation. */
export interface CheckedNodeInfo {
  id: string;
  name: string;
  clusterAddr: string;
  apiAddr: string;
}

/** Validates a ConfigNodeInfo (id, name, cluster address required; API address optional). */
export function checkNodeInfo(n: ConfigNodeInfo | undefined): CheckedNodeInfo | Refusal {
  if (n === undefined) return refuse("invalid_argument", "node is required");
  const bad =
    checkId("node id", n.id) ??
    checkText("node name", n.name, FSM_LIMITS.maxNameChars, true) ??
    checkAddr("cluster address", n.clusterAddr, true) ??
    checkAddr("API address", n.apiAddr, false);
  if (bad !== null) return refuse("invalid_argument", bad);
  return { id: n.id, name: n.name, clusterAddr: n.clusterAddr, apiAddr: n.apiAddr };
}

/** Narrows checkNodeInfo's answer. */
export function isNodeInfo(r: CheckedNodeInfo | Refusal): r is CheckedNodeInfo {
  return "clusterAddr" in r;
}

/** Maps the wire enum; UNSPECIFIED and unknown values give null. */
export function suffrageOf(v: ConfigSuffrage): Suffrage | null {
  if (v === ConfigSuffrage.VOTER) return "voter";
  if (v === ConfigSuffrage.NONVOTER) return "nonvoter";
  return null;
}

// The one message every token refusal carries; the precise reason goes to the
// audit trail only (DESIGN: a failed attempt never says which part was wrong).
const TOKEN_REFUSED = "invalid or expired token";

export const enrollNode: Handler<ConfigCommand_EnrollNode> = (s, cmd, ctx) => {
  const info = checkNodeInfo(cmd.node);
  if (!isNodeInfo(info)) return info;
  const asked = suffrageOf(cmd.suffrageAsked);
  if (asked === null) return refuse("invalid_argument", "suffrage asked must be voter or nonvoter");
  const badSource = checkText("source address", cmd.sourceAddr, FSM_LIMITS.maxAddrChars, false);
  if (badSource !== null) return refuse("invalid_argument", badSource);
  const badTokenId = checkId("token id", cmd.tokenId);
  if (badTokenId !== null) return refuse("invalid_argument", badTokenId);
  const badHash = checkSecretHash(cmd.secretHash);
  if (badHash !== null) return refuse("invalid_argument", badHash);
  const token = s.tokens.get(cmd.tokenId);
  if (token === undefined) return refuse("failed_precondition", TOKEN_REFUSED, "unknown");
  // The caller checked the hash when it looked the token up; checking again here
  // closes the window in which a rotation or revocation was committed in between.
  if (!hashesEqual(token.secretHash, cmd.secretHash)) {
    return refuse("failed_precondition", TOKEN_REFUSED, "mismatch");
  }
  const state = tokenState(token, ctx.atUnixMs);
  if (state !== "usable") return refuse("failed_precondition", TOKEN_REFUSED, state);
  if (s.nodes.has(info.id)) {
    return refuse("already_exists", `node ${info.id} is already a member`);
  }
  if (s.nodes.size >= FSM_LIMITS.maxNodes) {
    return refuse("resource_exhausted", `the cluster already has ${FSM_LIMITS.maxNodes} nodes`);
  }
  const forced = token.nonvoterOnly && asked === "voter";
  return () => {
    token.uses += 1;
    token.lastUsedAtUnixMs = ctx.atUnixMs;
    s.nodes.set(info.id, {
      ...info,
      // Learner first: the leader promotes it once it has caught up.
      suffrage: "nonvoter",
      suffrageAsked: asked,
      nonvoterForced: forced,
      joinedAtUnixMs: ctx.atUnixMs,
      joinedIndex: ctx.index,
      viaTokenId: token.id,
      sourceAddr: cmd.sourceAddr,
    });
    // Its enrollment reply carries the TLS material as of now, which includes
    // the new certificate of a rotation in flight: it cannot hold that open.
    s.rotation?.ackedBy.add(info.id);
    ctx.events.push({ type: "tokens", index: ctx.index, change: "used", tokenId: token.id });
    ctx.events.push({ type: "nodes", index: ctx.index, change: "added", nodeId: info.id });
    const usesLeft = token.maxUses === 0 ? null : token.maxUses - token.uses;
    appendAudit(s, ctx, "node.enrolled", {
      node_id: info.id,
      name: info.name,
      cluster_addr: info.clusterAddr,
      token_id: token.id,
      source: cmd.sourceAddr,
      suffrage_asked: asked,
      nonvoter_forced: String(forced),
    });
    return {
      kind: "enrollNode",
      nodeId: info.id,
      tokenId: token.id,
      usesLeft,
      targetSuffrage: forced ? "nonvoter" : asked,
    };
  };
};

export const removeNode: Handler<ConfigCommand_RemoveNode> = (s, cmd, ctx) => {
  const badId = checkId("node id", cmd.nodeId);
  if (badId !== null) return refuse("invalid_argument", badId);
  const node = s.nodes.get(cmd.nodeId);
  if (node === undefined) return refuse("not_found", `node ${cmd.nodeId} is not a member`);
  if (node.suffrage === "voter" && voterCount(s) === 1 && !cmd.force) {
    return refuse("failed_precondition", `node ${cmd.nodeId} is the last voter; use force`);
  }
  // Validate the optional parts before changing anything: all or nothing.
  const rotate =
    cmd.beginRotation === undefined ? null : planBeginRotation(s, cmd.beginRotation, ctx);
  if (rotate !== null && typeof rotate !== "function") return rotate;
  const token =
    cmd.rotateReusableToken === undefined
      ? null
      : planRotateReusableToken(s, cmd.rotateReusableToken, ctx);
  if (token !== null && typeof token !== "function") return token;
  return () => {
    s.nodes.delete(node.id);
    s.rotation?.ackedBy.delete(node.id);
    ctx.events.push({ type: "nodes", index: ctx.index, change: "removed", nodeId: node.id });
    appendAudit(s, ctx, "node.removed", {
      node_id: node.id,
      name: node.name,
      forced: String(cmd.force),
    });
    const rotationFingerprint = rotate === null ? null : rotate();
    const newReusableTokenId = token === null ? null : token()[0];
    return { kind: "removeNode", nodeId: node.id, rotationFingerprint, newReusableTokenId };
  };
};

export const updateNode: Handler<ConfigCommand_UpdateNode> = (s, cmd, ctx) => {
  const badId = checkId("node id", cmd.nodeId);
  if (badId !== null) return refuse("invalid_argument", badId);
  const node = s.nodes.get(cmd.nodeId);
  if (node === undefined) return refuse("not_found", `node ${cmd.nodeId} is not a member`);
  const suffrage =
    cmd.suffrage === ConfigSuffrage.UNSPECIFIED ? node.suffrage : suffrageOf(cmd.suffrage);
  if (suffrage === null) return refuse("invalid_argument", "suffrage must be voter or nonvoter");
  const bad =
    checkAddr("cluster address", cmd.clusterAddr, false) ??
    checkAddr("API address", cmd.apiAddr, false) ??
    checkText("node name", cmd.name, FSM_LIMITS.maxNameChars, false);
  if (bad !== null) return refuse("invalid_argument", bad);
  const changes: Record<string, string> = {};
  if (suffrage !== node.suffrage) changes.suffrage = suffrage;
  if (cmd.clusterAddr !== "" && cmd.clusterAddr !== node.clusterAddr) {
    changes.cluster_addr = cmd.clusterAddr;
  }
  if (cmd.apiAddr !== "" && cmd.apiAddr !== node.apiAddr) changes.api_addr = cmd.apiAddr;
  if (cmd.name !== "" && cmd.name !== node.name) changes.name = cmd.name;
  const specified =
    cmd.suffrage !== ConfigSuffrage.UNSPECIFIED ||
    cmd.clusterAddr !== "" ||
    cmd.apiAddr !== "" ||
    cmd.name !== "";
  if (!specified) return refuse("invalid_argument", `nothing to update for node ${node.id}`);
  if (cmd.setTarget) {
    // An operator's promote or demote: the target the leader steers Raft towards. The
    // recorded suffrage follows Raft, recorded once the change is made.
    if (cmd.suffrage === ConfigSuffrage.UNSPECIFIED) {
      return refuse("invalid_argument", "a target suffrage must be voter or nonvoter");
    }
    if (suffrage === "nonvoter" && node.suffrage === "voter" && voterCount(s) === 1) {
      return refuse(
        "failed_precondition",
        `node ${node.id} is the last voter and cannot be demoted`,
      );
    }
    return () => {
      if (targetSuffrage(node) === suffrage)
        return { kind: "updateNode", nodeId: node.id, suffrage };
      node.suffrageAsked = suffrage;
      node.nonvoterForced = false;
      ctx.events.push({ type: "nodes", index: ctx.index, change: "updated", nodeId: node.id });
      appendAudit(s, ctx, "node.target_set", { node_id: node.id, target_suffrage: suffrage });
      return { kind: "updateNode", nodeId: node.id, suffrage };
    };
  }
  if (node.suffrage === "voter" && suffrage === "nonvoter" && voterCount(s) === 1) {
    return refuse("failed_precondition", `node ${node.id} is the last voter and cannot be demoted`);
  }
  return () => {
    // Idempotent: a promotion retried after a leader change is not an error.
    if (Object.keys(changes).length === 0) return { kind: "updateNode", nodeId: node.id, suffrage };
    const was = node.suffrage;
    node.suffrage = suffrage;
    if (cmd.clusterAddr !== "") node.clusterAddr = cmd.clusterAddr;
    if (cmd.apiAddr !== "") node.apiAddr = cmd.apiAddr;
    if (cmd.name !== "") node.name = cmd.name;
    ctx.events.push({ type: "nodes", index: ctx.index, change: "updated", nodeId: node.id });
    const kind =
      was === suffrage ? "node.updated" : suffrage === "voter" ? "node.promoted" : "node.demoted";
    appendAudit(s, ctx, kind, { node_id: node.id, ...changes });
    return { kind: "updateNode", nodeId: node.id, suffrage };
  };
};
