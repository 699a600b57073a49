/**
 * The config FSM's public surface. Import from here; the other files in this
 * directory are implementation (state.ts in particular holds secrets).
 */

export type {
  CertificateInput,
  CommandEnvelope,
  CommandInput,
  NodeInfoInput,
  RotateTokenInput,
} from "./commands.js";
export { commandKindOf, encodeCommand } from "./commands.js";
export type { ConfigFsm, ConfigFsmOptions, ConfigFsmSecrets, TokenCheck } from "./config-fsm.js";
export { createConfigFsm } from "./config-fsm.js";
export type { FsmEvent, KvEvent } from "./events.js";
export { FSM_LIMITS } from "./limits.js";
export type {
  CommandKind,
  FsmErrorCode,
  FsmOk,
  FsmRejection,
  FsmResult,
  FsmValue,
  TokenRefusal,
} from "./result.js";
export { FsmInvariantError, FsmRestoreError } from "./result.js";
export { Secret } from "./secret.js";
export type { KeyedCert, TlsMaterial } from "./secrets.js";
export { SNAPSHOT_FORMAT_VERSION } from "./snapshot-codec.js";
export type {
  AuditEntry,
  CaView,
  CertView,
  ClusterIdentity,
  KvEntry,
  LastRotationView,
  NodeView,
  RotationView,
  Suffrage,
  TlsView,
  TokenKind,
  TokenState,
  TokenView,
} from "./views.js";
