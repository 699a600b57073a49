/**
 * Join tokens: creation (short-lived), revocation, and rotation of the
 * reusable cluster token. The FSM stores SHA-256 hashes of secrets, never the
 * secrets. Tokens that stopped being usable are pruned lazily (by the next
 * token-creating command, judged by that command's time) so the table stays
 * bounded without any timer in the state machine.
 */

import { timingSafeEqual } from "node:crypto";
import type {
  ConfigCommand_CreateToken,
  ConfigCommand_RevokeToken,
  ConfigCommand_RotateReusableToken,
} from "../../gen/gastrolog/v1/config_pb.js";
import { ConfigTokenKind } from "../../gen/gastrolog/v1/config_pb.js";
import type { ApplyContext, Handler, Plan } from "./context.js";
import { appendAudit } from "./context.js";
import { FSM_LIMITS } from "./limits.js";
import type { Refusal } from "./result.js";
import { refuse } from "./result.js";
import type { FsmState, TokenRecord } from "./state.js";
import { sortedKeys } from "./state.js";
import { checkId, checkSecretHash, checkText, toCount } from "./validate.js";
import { tokenState } from "./views.js";

/** Constant-time equality of two secret hashes (false for different lengths). */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** When a token stopped being usable, or null if it still is (at `atUnixMs`). */
function deadSince(t: TokenRecord, atUnixMs: number): number | null {
  switch (tokenState(t, atUnixMs)) {
    case "usable":
      return null;
    case "revoked":
      return t.revokedAtUnixMs;
    case "expired":
      return t.expiresAtUnixMs;
    case "used_up":
      return t.lastUsedAtUnixMs;
  }
}

/** Ids of tokens dead for longer than the retention, sorted. */
function tokensToPrune(s: FsmState, atUnixMs: number): string[] {
  return sortedKeys(s.tokens).filter((id) => {
    const since = deadSince(s.tokens.get(id)!, atUnixMs);
    return since !== null && since + FSM_LIMITS.deadTokenRetentionMs <= atUnixMs;
  });
}

/** Checks that a new token can be added (id free, hash well-formed, room after pruning). */
function checkNewToken(
  s: FsmState,
  id: string,
  hash: Uint8Array,
  atUnixMs: number,
): Refusal | string[] {
  const badId = checkId("token id", id);
  if (badId !== null) return refuse("invalid_argument", badId);
  const badHash = checkSecretHash(hash);
  if (badHash !== null) return refuse("invalid_argument", badHash);
  if (s.tokens.has(id)) return refuse("already_exists", `token ${id} already exists`);
  const prune = tokensToPrune(s, atUnixMs);
  if (s.tokens.size - prune.length + 1 > FSM_LIMITS.maxTokens) {
    return refuse(
      "resource_exhausted",
      `too many tokens (${FSM_LIMITS.maxTokens}); revoke some or wait for expired ones to be pruned`,
    );
  }
  return prune;
}

function prune(s: FsmState, ids: readonly string[]): void {
  for (const id of ids) s.tokens.delete(id);
}

/** A fresh reusable-token record. */
export function reusableToken(
  id: string,
  hash: Uint8Array,
  ctx: Pick<ApplyContext, "atUnixMs" | "actor">,
): TokenRecord {
  return {
    id,
    secretHash: hash.slice(),
    kind: "reusable",
    createdAtUnixMs: ctx.atUnixMs,
    createdBy: ctx.actor,
    expiresAtUnixMs: 0,
    maxUses: 0,
    uses: 0,
    nonvoterOnly: false,
    label: "cluster token",
    revoked: false,
    revokedAtUnixMs: 0,
    revokedBy: "",
    revokedReason: "",
    lastUsedAtUnixMs: 0,
  };
}

export const createToken: Handler<ConfigCommand_CreateToken> = (s, cmd, ctx) => {
  if (cmd.kind !== ConfigTokenKind.SHORT_LIVED) {
    return refuse(
      "invalid_argument",
      "only short-lived tokens can be created; the reusable token is made at bootstrap and replaced by rotation",
    );
  }
  const expires = toCount(cmd.expiresAtUnixMs);
  if (expires === null) return refuse("invalid_argument", "token expiry is not a valid time");
  if (expires !== 0 && expires <= ctx.atUnixMs) {
    return refuse("invalid_argument", "token expiry is not in the future");
  }
  const badLabel = checkText("label", cmd.label, FSM_LIMITS.maxNameChars, false);
  if (badLabel !== null) return refuse("invalid_argument", badLabel);
  const pruned = checkNewToken(s, cmd.tokenId, cmd.secretHash, ctx.atUnixMs);
  if (!Array.isArray(pruned)) return pruned;
  return () => {
    prune(s, pruned);
    s.tokens.set(cmd.tokenId, {
      ...reusableToken(cmd.tokenId, cmd.secretHash, ctx),
      kind: "short_lived",
      expiresAtUnixMs: expires,
      maxUses: cmd.maxUses,
      nonvoterOnly: cmd.nonvoterOnly,
      label: cmd.label,
    });
    ctx.events.push({ type: "tokens", index: ctx.index, change: "created", tokenId: cmd.tokenId });
    appendAudit(s, ctx, "token.created", {
      token_id: cmd.tokenId,
      expires_at_unix_ms: String(expires),
      max_uses: String(cmd.maxUses),
      nonvoter_only: String(cmd.nonvoterOnly),
      label: cmd.label,
      pruned: String(pruned.length),
    });
    return { kind: "createToken", tokenId: cmd.tokenId };
  };
};

export const revokeToken: Handler<ConfigCommand_RevokeToken> = (s, cmd, ctx) => {
  const badId = checkId("token id", cmd.tokenId);
  if (badId !== null) return refuse("invalid_argument", badId);
  const t = s.tokens.get(cmd.tokenId);
  if (t === undefined) return refuse("not_found", `token ${cmd.tokenId} does not exist`);
  if (t.revoked) return refuse("failed_precondition", `token ${cmd.tokenId} is already revoked`);
  return () => {
    t.revoked = true;
    t.revokedAtUnixMs = ctx.atUnixMs;
    t.revokedBy = ctx.actor;
    t.revokedReason = "revoked";
    ctx.events.push({ type: "tokens", index: ctx.index, change: "revoked", tokenId: t.id });
    appendAudit(s, ctx, "token.revoked", { token_id: t.id, token_kind: t.kind });
    return { kind: "revokeToken", tokenId: t.id };
  };
};

/** Validates a reusable-token rotation; the plan returns [new id, previous id or ""]. */
export function planRotateReusableToken(
  s: FsmState,
  cmd: ConfigCommand_RotateReusableToken,
  ctx: ApplyContext,
): Refusal | (() => [string, string]) {
  const pruned = checkNewToken(s, cmd.newTokenId, cmd.newSecretHash, ctx.atUnixMs);
  if (!Array.isArray(pruned)) return pruned;
  // The live reusable token, if any (an operator may have revoked it outright).
  const old = sortedKeys(s.tokens)
    .map((id) => s.tokens.get(id)!)
    .find((t) => t.kind === "reusable" && !t.revoked);
  return () => {
    prune(s, pruned);
    if (old !== undefined) {
      old.revoked = true;
      old.revokedAtUnixMs = ctx.atUnixMs;
      old.revokedBy = ctx.actor;
      old.revokedReason = "rotated";
    }
    s.tokens.set(cmd.newTokenId, reusableToken(cmd.newTokenId, cmd.newSecretHash, ctx));
    ctx.events.push({
      type: "tokens",
      index: ctx.index,
      change: "rotated",
      tokenId: cmd.newTokenId,
    });
    appendAudit(s, ctx, "token.rotated", {
      token_id: cmd.newTokenId,
      previous_token_id: old?.id ?? "",
    });
    return [cmd.newTokenId, old?.id ?? ""];
  };
}

export const rotateReusableToken: Handler<ConfigCommand_RotateReusableToken> = (s, cmd, ctx) => {
  const plan = planRotateReusableToken(s, cmd, ctx);
  if (typeof plan !== "function") return plan;
  return (): ReturnType<Plan> => {
    const [tokenId, previousTokenId] = plan();
    return { kind: "rotateReusableToken", tokenId, previousTokenId };
  };
};
