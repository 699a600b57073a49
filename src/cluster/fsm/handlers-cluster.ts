/**
 * Cluster-wide commands: InitCluster (the first entry of a new cluster) and
 * RecordAudit (security events observed outside the FSM, such as failed
 * enrollment attempts, which must be recorded even though the attempt itself
 * changed nothing).
 */

import type {
  ConfigCommand_InitCluster,
  ConfigCommand_RecordAudit,
} from "../../gen/gastrolog/v1/config_pb.js";
import { checkCertificate, isCertRecord } from "./cert-check.js";
import type { Handler } from "./context.js";
import { appendAudit } from "./context.js";
import { checkNodeInfo, isNodeInfo } from "./handlers-nodes.js";
import { reusableToken } from "./handlers-tokens.js";
import { FSM_LIMITS } from "./limits.js";
import { refuse } from "./result.js";
import { checkId, checkSecretHash, checkText, toCount } from "./validate.js";

export const initCluster: Handler<ConfigCommand_InitCluster> = (s, cmd, ctx) => {
  if (s.cluster !== null) {
    return refuse("failed_precondition", `the cluster is already initialised (id ${s.cluster.id})`);
  }
  const bad =
    checkId("cluster id", cmd.clusterId) ??
    checkText("cluster name", cmd.clusterName, FSM_LIMITS.maxNameChars, true) ??
    checkId("reusable token id", cmd.reusableTokenId) ??
    checkSecretHash(cmd.reusableTokenSecretHash);
  if (bad !== null) return refuse("invalid_argument", bad);
  const createdAt = toCount(cmd.createdAtUnixMs);
  if (createdAt === null) return refuse("invalid_argument", "created-at is not a valid time");
  const ca = checkCertificate("CA", cmd.ca, ctx.atUnixMs, true);
  if (!isCertRecord(ca)) return ca;
  const cert = checkCertificate("cluster certificate", cmd.clusterCert, ctx.atUnixMs, false);
  if (!isCertRecord(cert)) return cert;
  if (cert.signerFingerprint === "") cert.signerFingerprint = ca.fingerprint;
  if (cert.signerFingerprint !== ca.fingerprint) {
    return refuse("invalid_argument", "the cluster certificate must be signed by the cluster CA");
  }
  if (cert.fingerprint === ca.fingerprint) {
    return refuse(
      "invalid_argument",
      "the cluster certificate and the CA are the same certificate",
    );
  }
  const node = checkNodeInfo(cmd.node);
  if (!isNodeInfo(node)) return node;
  return () => {
    const at = createdAt === 0 ? ctx.atUnixMs : createdAt;
    s.cluster = { id: cmd.clusterId, name: cmd.clusterName, createdAtUnixMs: at };
    s.cas.set(ca.fingerprint, { cert: ca, addedAtUnixMs: ctx.atUnixMs });
    s.activeCa = ca.fingerprint;
    s.current = { cert, installedAtUnixMs: ctx.atUnixMs };
    s.tokens.set(
      cmd.reusableTokenId,
      reusableToken(cmd.reusableTokenId, cmd.reusableTokenSecretHash, ctx),
    );
    s.nodes.set(node.id, {
      ...node,
      suffrage: "voter",
      suffrageAsked: "voter",
      nonvoterForced: false,
      joinedAtUnixMs: ctx.atUnixMs,
      joinedIndex: ctx.index,
      viaTokenId: "",
      sourceAddr: "",
    });
    ctx.events.push({ type: "cluster", index: ctx.index });
    ctx.events.push({ type: "tls", index: ctx.index, change: "initialized" });
    ctx.events.push({ type: "nodes", index: ctx.index, change: "added", nodeId: node.id });
    ctx.events.push({
      type: "tokens",
      index: ctx.index,
      change: "created",
      tokenId: cmd.reusableTokenId,
    });
    appendAudit(s, ctx, "cluster.initialized", {
      cluster_id: cmd.clusterId,
      name: cmd.clusterName,
      ca_fingerprint: ca.fingerprint,
      cert_fingerprint: cert.fingerprint,
      node_id: node.id,
      token_id: cmd.reusableTokenId,
    });
    return { kind: "initCluster", clusterId: cmd.clusterId };
  };
};

const AUDIT_KIND_RE = /^[a-z][a-z0-9_.]{0,63}$/;
const DETAIL_KEY_RE = /^[a-z][a-z0-9_]{0,31}$/;

export const recordAudit: Handler<ConfigCommand_RecordAudit> = (s, cmd, ctx) => {
  if (!AUDIT_KIND_RE.test(cmd.kind)) {
    return refuse("invalid_argument", "audit kind must match [a-z][a-z0-9_.]{0,63}");
  }
  if (cmd.details.length > FSM_LIMITS.maxAuditDetails) {
    return refuse("invalid_argument", `at most ${FSM_LIMITS.maxAuditDetails} audit details`);
  }
  const details: Record<string, string> = {};
  for (const d of cmd.details) {
    if (!DETAIL_KEY_RE.test(d.key)) {
      return refuse("invalid_argument", "audit detail keys must match [a-z][a-z0-9_]{0,31}");
    }
    if (Object.hasOwn(details, d.key)) {
      return refuse("invalid_argument", `audit detail ${d.key} is given twice`);
    }
    const bad = checkText(`audit detail ${d.key}`, d.value, FSM_LIMITS.maxAuditValueChars, false);
    if (bad !== null) return refuse("invalid_argument", bad);
    // A cheap guard against the worst mistake a caller could make here.
    if (d.value.includes("PRIVATE KEY")) {
      return refuse("invalid_argument", `audit detail ${d.key} looks like key material`);
    }
    details[d.key] = d.value;
  }
  return () => {
    const seq = appendAudit(s, ctx, cmd.kind, details);
    return { kind: "recordAudit", seq };
  };
};
