/**
 * Size and count limits of the config FSM. They bound the state (and so the
 * snapshot and the memory of every replica) and turn oversized input into a
 * clean rejection instead of a slow node. Changing one changes which commands
 * are accepted, so every replica must run the same values.
 */
export const FSM_LIMITS = {
  /** A whole encoded command. Raft entries larger than this are refused. */
  maxCommandBytes: 1024 * 1024,
  /** Configuration keys: 1..256 bytes of [A-Za-z0-9/_.-]. */
  maxKeyBytes: 256,
  /** One configuration value. */
  maxValueBytes: 64 * 1024,
  /** All keys plus values together. */
  maxKvTotalBytes: 32 * 1024 * 1024,
  /** Audit ring: the oldest entry is dropped beyond this. */
  auditEntries: 1000,
  /** Audit details of one RecordAudit: entries, key length, value length. */
  maxAuditDetails: 16,
  maxAuditValueChars: 512,
  /** Recorded nodes (members). */
  maxNodes: 1000,
  /** Tokens kept, including revoked/expired ones not yet pruned. */
  maxTokens: 1000,
  /**
   * A token that stopped being usable (revoked, expired, used up) is pruned by
   * the next token-creating command once it has been unusable this long, judged
   * by the command's time. Kept a while so `token list` can show what happened.
   */
  deadTokenRetentionMs: 24 * 60 * 60 * 1000,
  /** Trusted CAs at once (a CA rotation needs two). */
  maxTrustedCas: 8,
  /** PEM text of one certificate or key. */
  maxPemChars: 16 * 1024,
  /** Ids (cluster, node, token), names, labels, actors, addresses. */
  maxIdChars: 64,
  maxNameChars: 128,
  maxAddrChars: 255,
  /** Token secret hashes are SHA-256 digests. */
  secretHashBytes: 32,
} as const;
