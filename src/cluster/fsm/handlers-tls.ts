/**
 * TLS state: cluster-certificate rotation (begin, acks, finish) and the
 * trusted-CA set (add, activate, retire). See DESIGN "Certificate rotation".
 *
 * Begin makes the new certificate current and keeps the old one as previous:
 * both are accepted until finish. A member holds the rotation open until it
 * acks; pending members are computed from the nodes recorded *now*, so removing
 * a member that is down releases the rotation. Nodes enrolled after the begin
 * count as acked: their enrollment reply already carried the new certificate.
 */

import type {
  ConfigCommand_AckRotation,
  ConfigCommand_AddTrustedCA,
  ConfigCommand_BeginRotation,
  ConfigCommand_FinishRotation,
  ConfigCommand_RetireCA,
  ConfigCommand_SetActiveCA,
} from "../../gen/gastrolog/v1/config_pb.js";
import { checkCertificate, isCertRecord } from "./cert-check.js";
import type { ApplyContext, Handler } from "./context.js";
import { appendAudit } from "./context.js";
import { FSM_LIMITS } from "./limits.js";
import type { Refusal } from "./result.js";
import { refuse } from "./result.js";
import type { FsmState } from "./state.js";
import { pendingMembers } from "./state.js";
import { checkFingerprint, checkId } from "./validate.js";

/** Validates a BeginRotation; the plan returns the new fingerprint. */
export function planBeginRotation(
  s: FsmState,
  cmd: ConfigCommand_BeginRotation,
  ctx: ApplyContext,
): Refusal | (() => string) {
  const current = s.current;
  if (current === null) return refuse("failed_precondition", "cluster is not initialised");
  if (s.rotation !== null) {
    return refuse(
      "failed_precondition",
      `a rotation to ${s.rotation.newFingerprint} is in flight; finish it first`,
    );
  }
  const cert = checkCertificate("cluster certificate", cmd.cert, ctx.atUnixMs, false);
  if (!isCertRecord(cert)) return cert;
  if (cert.signerFingerprint === "") cert.signerFingerprint = s.activeCa;
  if (cert.signerFingerprint !== s.activeCa) {
    return refuse(
      "failed_precondition",
      `the new certificate must be signed by the active CA ${s.activeCa}`,
    );
  }
  if (cert.fingerprint === current.cert.fingerprint) {
    return refuse("failed_precondition", "the new certificate is the current one");
  }
  if (s.cas.has(cert.fingerprint)) {
    return refuse("invalid_argument", "the new cluster certificate is a trusted CA certificate");
  }
  return () => {
    s.previous = current;
    s.current = { cert, installedAtUnixMs: ctx.atUnixMs };
    s.rotation = {
      newFingerprint: cert.fingerprint,
      oldFingerprint: current.cert.fingerprint,
      begunAtUnixMs: ctx.atUnixMs,
      begunIndex: ctx.index,
      ackedBy: new Set(),
    };
    ctx.events.push({ type: "tls", index: ctx.index, change: "rotation_begun" });
    appendAudit(s, ctx, "cert.rotation_begun", {
      fingerprint: cert.fingerprint,
      previous_fingerprint: current.cert.fingerprint,
      signer_fingerprint: cert.signerFingerprint,
      not_after_unix_ms: String(cert.notAfterUnixMs),
    });
    return cert.fingerprint;
  };
}

export const beginRotation: Handler<ConfigCommand_BeginRotation> = (s, cmd, ctx) => {
  const plan = planBeginRotation(s, cmd, ctx);
  if (typeof plan !== "function") return plan;
  return () => {
    const fingerprint = plan();
    return { kind: "beginRotation", fingerprint, pending: pendingMembers(s) };
  };
};

export const ackRotation: Handler<ConfigCommand_AckRotation> = (s, cmd, ctx) => {
  const badId = checkId("node id", cmd.nodeId);
  if (badId !== null) return refuse("invalid_argument", badId);
  const r = s.rotation;
  if (r === null) return refuse("failed_precondition", "no rotation is in flight");
  if (cmd.fingerprint !== r.newFingerprint) {
    return refuse(
      "failed_precondition",
      `the ack is for ${cmd.fingerprint || "(none)"}, but the rotation in flight is to ${r.newFingerprint}`,
    );
  }
  if (!s.nodes.has(cmd.nodeId)) return refuse("not_found", `node ${cmd.nodeId} is not a member`);
  const alreadyAcked = r.ackedBy.has(cmd.nodeId);
  return () => {
    if (!alreadyAcked) {
      r.ackedBy.add(cmd.nodeId);
      ctx.events.push({ type: "tls", index: ctx.index, change: "rotation_acked" });
      appendAudit(s, ctx, "cert.rotation_acked", {
        node_id: cmd.nodeId,
        fingerprint: r.newFingerprint,
      });
    }
    return { kind: "ackRotation", nodeId: cmd.nodeId, alreadyAcked, pending: pendingMembers(s) };
  };
};

export const finishRotation: Handler<ConfigCommand_FinishRotation> = (s, cmd, ctx) => {
  const r = s.rotation;
  if (r === null) return refuse("failed_precondition", "no rotation is in flight");
  if (cmd.fingerprint !== r.newFingerprint) {
    return refuse(
      "failed_precondition",
      `the rotation in flight is to ${r.newFingerprint}, not ${cmd.fingerprint || "(none)"}`,
    );
  }
  const pending = pendingMembers(s);
  if (pending.length > 0 && !cmd.force) {
    return refuse(
      "failed_precondition",
      `rotation is held open by ${pending.join(", ")} (not yet applied); wait or force`,
    );
  }
  return () => {
    s.previous = null;
    s.rotation = null;
    s.lastRotation = {
      fingerprint: r.newFingerprint,
      finishedAtUnixMs: ctx.atUnixMs,
      forced: cmd.force,
      leftBehind: pending,
    };
    ctx.events.push({ type: "tls", index: ctx.index, change: "rotation_finished" });
    appendAudit(s, ctx, "cert.rotation_finished", {
      fingerprint: r.newFingerprint,
      previous_fingerprint: r.oldFingerprint,
      forced: String(cmd.force),
      left_behind: pending.join(","),
    });
    return {
      kind: "finishRotation",
      fingerprint: r.newFingerprint,
      forced: cmd.force,
      leftBehind: pending,
    };
  };
};

export const addTrustedCa: Handler<ConfigCommand_AddTrustedCA> = (s, cmd, ctx) => {
  const ca = checkCertificate("CA", cmd.ca, ctx.atUnixMs, true);
  if (!isCertRecord(ca)) return ca;
  if (s.cas.has(ca.fingerprint)) {
    return refuse("already_exists", `CA ${ca.fingerprint} is already trusted`);
  }
  if (s.current?.cert.fingerprint === ca.fingerprint) {
    return refuse("invalid_argument", "the CA certificate is the cluster certificate");
  }
  if (s.cas.size >= FSM_LIMITS.maxTrustedCas) {
    return refuse(
      "resource_exhausted",
      `at most ${FSM_LIMITS.maxTrustedCas} CAs can be trusted; retire one first`,
    );
  }
  return () => {
    s.cas.set(ca.fingerprint, { cert: ca, addedAtUnixMs: ctx.atUnixMs });
    if (cmd.activate) s.activeCa = ca.fingerprint;
    ctx.events.push({ type: "tls", index: ctx.index, change: "ca_added" });
    appendAudit(s, ctx, "ca.added", {
      fingerprint: ca.fingerprint,
      active: String(cmd.activate),
      not_after_unix_ms: String(ca.notAfterUnixMs),
    });
    return { kind: "addTrustedCa", fingerprint: ca.fingerprint, active: cmd.activate };
  };
};

export const retireCa: Handler<ConfigCommand_RetireCA> = (s, cmd, ctx) => {
  const fp = cmd.fingerprint;
  const bad = checkFingerprint("CA fingerprint", fp);
  if (bad !== null) return refuse("invalid_argument", bad);
  if (!s.cas.has(fp)) return refuse("not_found", `CA ${fp} is not trusted`);
  if (s.cas.size === 1) return refuse("failed_precondition", "cannot retire the last trusted CA");
  if (s.activeCa === fp) {
    return refuse("failed_precondition", `CA ${fp} is the active CA; activate another CA first`);
  }
  if (s.current?.cert.signerFingerprint === fp) {
    return refuse(
      "failed_precondition",
      `CA ${fp} signed the current cluster certificate; rotate the certificate first`,
    );
  }
  if (s.previous?.cert.signerFingerprint === fp) {
    return refuse(
      "failed_precondition",
      `CA ${fp} signed the certificate being rotated away from; finish the rotation first`,
    );
  }
  return () => {
    s.cas.delete(fp);
    ctx.events.push({ type: "tls", index: ctx.index, change: "ca_retired" });
    appendAudit(s, ctx, "ca.retired", { fingerprint: fp });
    return { kind: "retireCa", fingerprint: fp };
  };
};

export const setActiveCa: Handler<ConfigCommand_SetActiveCA> = (s, cmd, ctx) => {
  const fp = cmd.fingerprint;
  const bad = checkFingerprint("CA fingerprint", fp);
  if (bad !== null) return refuse("invalid_argument", bad);
  if (!s.cas.has(fp)) return refuse("not_found", `CA ${fp} is not trusted`);
  return () => {
    if (s.activeCa !== fp) {
      s.activeCa = fp;
      ctx.events.push({ type: "tls", index: ctx.index, change: "ca_activated" });
      appendAudit(s, ctx, "ca.activated", { fingerprint: fp });
    }
    return { kind: "setActiveCa", fingerprint: fp };
  };
};
