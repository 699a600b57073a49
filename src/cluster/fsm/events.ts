/**
 * Notifications the config FSM emits after a command has been applied (never
 * for a rejected one), so the node can react: hot-reload TLS on a rotation,
 * re-check membership, wake config watchers. Delivered synchronously, in order,
 * after the state change is complete.
 */

/** A change to a configuration entry, or a reset after a snapshot restore. */
export type KvEvent =
  | {
      readonly type: "put";
      readonly key: string;
      readonly value: Uint8Array;
      readonly revision: number;
      readonly index: number;
    }
  | {
      readonly type: "delete";
      readonly key: string;
      readonly revision: number;
      readonly index: number;
    }
  /** The whole namespace was replaced by a snapshot: re-read what you watch. */
  | { readonly type: "reset"; readonly revision: number };

/** What part of the state a command changed. */
export type FsmEvent =
  | { readonly type: "kv"; readonly event: KvEvent }
  | { readonly type: "cluster"; readonly index: number }
  | {
      readonly type: "tls";
      readonly index: number;
      readonly change:
        | "initialized"
        | "rotation_begun"
        | "rotation_acked"
        | "rotation_finished"
        | "ca_added"
        | "ca_retired"
        | "ca_activated";
    }
  | {
      readonly type: "nodes";
      readonly index: number;
      readonly change: "added" | "removed" | "updated";
      readonly nodeId: string;
    }
  | {
      readonly type: "tokens";
      readonly index: number;
      readonly change: "created" | "used" | "revoked" | "rotated";
      readonly tokenId: string;
    }
  | { readonly type: "audit"; readonly index: number; readonly seq: number; readonly kind: string }
  /** The whole state was replaced by `restore`. */
  | { readonly type: "restored"; readonly stateIndex: number };
