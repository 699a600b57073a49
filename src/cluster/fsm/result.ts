/**
 * What applying one command yields. A command is either applied in full (`ok`)
 * or rejected with a typed code and changes nothing. Codes use the Connect/gRPC
 * wire names so the API layer can pass them through unchanged.
 */

import type { Suffrage } from "./views.js";

/** Why a command was rejected. Same spelling as Connect's `Code` wire names. */
export type FsmErrorCode =
  | "invalid_argument"
  | "failed_precondition"
  | "not_found"
  | "already_exists"
  | "resource_exhausted";

/**
 * Why an EnrollNode was refused, for the audit trail. The API must not show this
 * to the caller beyond "invalid or expired token" (DESIGN, "Join token").
 */
export type TokenRefusal = "unknown" | "mismatch" | "revoked" | "expired" | "used_up";

/** The names of the commands, as in the protobuf oneof. */
export type CommandKind =
  | "initCluster"
  | "putKey"
  | "deleteKey"
  | "enrollNode"
  | "createToken"
  | "revokeToken"
  | "rotateReusableToken"
  | "beginRotation"
  | "ackRotation"
  | "finishRotation"
  | "addTrustedCa"
  | "retireCa"
  | "setActiveCa"
  | "removeNode"
  | "updateNode"
  | "recordAudit";

/** What a successful command returns, per kind. */
export type FsmValue =
  | { readonly kind: "initCluster"; readonly clusterId: string }
  | {
      readonly kind: "putKey";
      readonly key: string;
      /** The new global revision, which is also the key's mod revision. */
      readonly revision: number;
      /** How many times the key has been written since it was created (1 = new). */
      readonly version: number;
    }
  | { readonly kind: "deleteKey"; readonly key: string; readonly revision: number }
  | {
      readonly kind: "enrollNode";
      readonly nodeId: string;
      readonly tokenId: string;
      /** Uses left after this one; null = unlimited. */
      readonly usesLeft: number | null;
      /** The suffrage the node should end up with (voter unless asked or forced otherwise). */
      readonly targetSuffrage: Suffrage;
    }
  | { readonly kind: "createToken"; readonly tokenId: string }
  | { readonly kind: "revokeToken"; readonly tokenId: string }
  | {
      readonly kind: "rotateReusableToken";
      readonly tokenId: string;
      readonly previousTokenId: string;
    }
  | {
      readonly kind: "beginRotation";
      readonly fingerprint: string;
      readonly pending: readonly string[];
    }
  | {
      readonly kind: "ackRotation";
      readonly nodeId: string;
      /** True when this node had already acked: nothing changed. */
      readonly alreadyAcked: boolean;
      readonly pending: readonly string[];
    }
  | {
      readonly kind: "finishRotation";
      readonly fingerprint: string;
      readonly forced: boolean;
      /** Members that had not acked (only non-empty when forced); they must re-enroll. */
      readonly leftBehind: readonly string[];
    }
  | { readonly kind: "addTrustedCa"; readonly fingerprint: string; readonly active: boolean }
  | { readonly kind: "retireCa"; readonly fingerprint: string }
  | { readonly kind: "setActiveCa"; readonly fingerprint: string }
  | {
      readonly kind: "removeNode";
      readonly nodeId: string;
      /** Set when the same entry began a certificate rotation. */
      readonly rotationFingerprint: string | null;
      /** Set when the same entry rotated the reusable token. */
      readonly newReusableTokenId: string | null;
    }
  | { readonly kind: "updateNode"; readonly nodeId: string; readonly suffrage: Suffrage }
  | { readonly kind: "recordAudit"; readonly seq: number };

/** A command that was applied. `index` is the Raft index it was applied at. */
export interface FsmOk {
  readonly ok: true;
  readonly index: number;
  readonly value: FsmValue;
}

/** A command that was rejected. Nothing in the state changed. */
export interface FsmRejection {
  readonly ok: false;
  readonly index: number;
  /** The command's kind, or null when the bytes did not decode to a known command. */
  readonly command: CommandKind | null;
  readonly code: FsmErrorCode;
  /** Human-readable, safe to show: never contains a secret, hash or key. */
  readonly message: string;
  /** Set for EnrollNode refusals caused by the token (audit only; see TokenRefusal). */
  readonly tokenRefusal?: TokenRefusal;
}

/** The outcome of `apply`. */
export type FsmResult = FsmOk | FsmRejection;

/**
 * Thrown (not returned) when the caller breaks the FSM's contract, e.g. applies an
 * index that is not above the last one. That is a bug in the runtime, not bad
 * input, and carrying on would risk divergence between replicas.
 */
export class FsmInvariantError extends Error {
  override readonly name = "FsmInvariantError";
}

/** Thrown by `restore` for bytes that are not a valid snapshot; the state is unchanged. */
export class FsmRestoreError extends Error {
  override readonly name = "FsmRestoreError";
}

/** Internal: a rejection before the index is known. */
export interface Refusal {
  readonly code: FsmErrorCode;
  readonly message: string;
  readonly tokenRefusal?: TokenRefusal;
}

/** Builds a refusal; keeps handler code short. */
export function refuse(code: FsmErrorCode, message: string, tokenRefusal?: TokenRefusal): Refusal {
  return tokenRefusal === undefined ? { code, message } : { code, message, tokenRefusal };
}
