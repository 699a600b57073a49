import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CertificateInput, FsmResult } from "../cluster/fsm/index.js";
import { type CertificateWithKey, createClusterCa, issueClusterCert } from "../pki/certificate.js";
import { generateJoinToken } from "../pki/join-token.js";
import { type ClusterNode, fsmCode } from "./cluster-node.js";

/** One progress report of a long operation, as the admin API streams it. */
export interface ProgressReport {
  phase: string;
  message: string;
  pending?: string[];
  newToken?: string;
}

/** Receives progress reports. */
export type Progress = (p: ProgressReport) => void;

/** With --force, how long a rotation waits for acknowledgements before finishing anyway. */
const FORCE_GRACE_MS = 2000;

/** Throws a rejection as an API error; returns the index the command was applied at. */
function accepted(r: FsmResult): number {
  if (!r.ok) throw new ConnectError(r.message, fsmCode(r.code));
  return r.index;
}

function certInput(c: CertificateWithKey, signerFingerprint?: string): CertificateInput {
  return {
    certPem: c.certPem,
    keyPem: c.keyPem,
    fingerprint: c.fingerprint,
    notBeforeUnixMs: c.notBefore.getTime(),
    notAfterUnixMs: c.notAfter.getTime(),
    ...(signerFingerprint ? { signerFingerprint } : {}),
  };
}

function clusterIdOf(node: ClusterNode): string {
  const id = node.fsm.cluster()?.id;
  if (!id) throw new ConnectError("the cluster is not initialised", Code.FailedPrecondition);
  return id;
}

/** "name (id prefix)" for operator-facing lists. */
function label(node: ClusterNode, id: string): string {
  const n = node.fsm.node(id);
  return n ? `${n.name} (${id.slice(0, 8)})` : id;
}

/** Issues a new cluster certificate signed by the active CA. */
async function issueFromActiveCa(
  node: ClusterNode,
): Promise<{ cert: CertificateWithKey; signer: string }> {
  const ca = node.fsm.secrets.activeCa();
  if (!ca) throw new ConnectError("the cluster has no active CA", Code.FailedPrecondition);
  const cert = await issueClusterCert({
    ca: { certPem: ca.certPem, keyPem: ca.keyPem.reveal() },
    clusterId: clusterIdOf(node),
  });
  return { cert, signer: ca.fingerprint };
}

/**
 * Waits until the rotation to `fingerprint` has finished in this node's config store,
 * reporting which members hold it open. With `force`, finishes it anyway after a short
 * grace period; members left behind must then re-enroll. Without it, waits as long as the
 * caller does (the leader finishes the rotation on its own once the last member acks).
 */
export function waitRotationFinished(
  node: ClusterNode,
  fingerprint: string,
  opts: { force: boolean; signal?: AbortSignal; beganAt: number },
  progress: Progress,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lastPending = "";
    let forcing = false;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearInterval(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      // This node may follow the leader by a few entries: judge only once it has applied
      // the entry that began the rotation.
      if (node.fsm.lastAppliedIndex() < opts.beganAt) return;
      const tls = node.fsm.tls();
      if (!tls) return;
      if (!tls.rotation && tls.current.fingerprint === fingerprint) {
        const left =
          tls.lastRotation?.fingerprint === fingerprint ? tls.lastRotation.leftBehind : [];
        progress({
          phase: "finished",
          message:
            left.length > 0
              ? `rotation finished by force; left behind (must re-enroll; remove their old entries first with \`gastrolog cluster remove\`): ${left.map((id) => label(node, id)).join(", ")}`
              : "rotation finished: every member presents the new certificate and the old one is refused",
        });
        finish();
        return;
      }
      const rotation = tls.rotation;
      if (!rotation || rotation.newFingerprint !== fingerprint) {
        if (tls.current.fingerprint !== fingerprint && !rotation) {
          finish(new ConnectError("the rotation was superseded by another one", Code.Aborted));
        }
        return;
      }
      const pending = rotation.pending.map((id) => label(node, id));
      const key = pending.join(",");
      if (key !== lastPending) {
        lastPending = key;
        if (pending.length > 0) {
          progress({
            phase: "waiting",
            message: `waiting for ${pending.length} member(s) to present the new certificate`,
            pending,
          });
        }
      }
      if (
        opts.force &&
        !forcing &&
        pending.length > 0 &&
        performance.now() - started >= FORCE_GRACE_MS
      ) {
        forcing = true;
        progress({ phase: "forcing", message: `finishing without ${pending.join(", ")}`, pending });
        node
          .propose({ kind: "finishRotation", fingerprint, force: true }, "local-admin")
          .then(accepted)
          .catch((err) => finish(err));
      }
    };
    const onAbort = () =>
      finish(
        new ConnectError("stopped waiting; the rotation continues on the cluster", Code.Canceled),
      );
    const unsubscribe = node.fsm.subscribe(() => check());
    const timer = setInterval(check, 250);
    timer.unref();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    check();
  });
}

/**
 * Rotates the cluster certificate: BeginRotation with a new certificate from the active
 * CA; every node hot-reloads to present it and accept both, and acknowledges; the leader
 * then commits FinishRotation and everyone refuses the old one. Resolves when finished.
 */
export async function rotateCert(
  node: ClusterNode,
  opts: { force: boolean; signal?: AbortSignal },
  progress: Progress,
): Promise<string> {
  const { cert, signer } = await issueFromActiveCa(node);
  const beganAt = accepted(
    await node.propose({ kind: "beginRotation", cert: certInput(cert, signer) }, "local-admin"),
  );
  progress({
    phase: "begin",
    message: `new certificate ${cert.fingerprint}; members now present it and accept both`,
  });
  await waitRotationFinished(node, cert.fingerprint, { ...opts, beganAt }, progress);
  return cert.fingerprint;
}

/** Makes a new reusable join token for the active CA and records it; returns the token. */
export async function rotateReusableToken(node: ClusterNode): Promise<string> {
  const tls = node.fsm.tls();
  if (!tls) throw new ConnectError("the cluster is not initialised", Code.FailedPrecondition);
  const t = generateJoinToken(tls.activeCaFingerprint);
  accepted(
    await node.propose(
      {
        kind: "rotateReusableToken",
        newTokenId: randomBytes(8).toString("hex"),
        newSecretHash: Buffer.from(t.secretHash, "hex"),
      },
      "local-admin",
    ),
  );
  return t.token;
}

/**
 * Rotates the CA in three phases (add the new CA to the trusted set, rotate the cluster
 * certificate to one it signs, retire the old CA), then reissues the reusable join token,
 * whose CA hash changed. Resolves to the new token, shown once.
 */
export async function rotateCa(
  node: ClusterNode,
  opts: { force: boolean; signal?: AbortSignal },
  progress: Progress,
): Promise<string> {
  const tls = node.fsm.tls();
  if (!tls) throw new ConnectError("the cluster is not initialised", Code.FailedPrecondition);
  if (tls.rotation) {
    throw new ConnectError(
      "a certificate rotation is already in flight; wait for it (see `gastrolog cert show`)",
      Code.FailedPrecondition,
    );
  }
  const oldCa = tls.activeCaFingerprint;
  const ca = await createClusterCa({ clusterId: clusterIdOf(node) });
  accepted(
    await node.propose({ kind: "addTrustedCa", ca: certInput(ca), activate: true }, "local-admin"),
  );
  progress({
    phase: "ca-added",
    message: `phase 1/3: new CA ${ca.fingerprint} trusted by every member and active`,
  });

  const cert = await issueClusterCert({
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    clusterId: clusterIdOf(node),
  });
  const beganAt = accepted(
    await node.propose(
      { kind: "beginRotation", cert: certInput(cert, ca.fingerprint) },
      "local-admin",
    ),
  );
  progress({
    phase: "cert-begin",
    message: `phase 2/3: rotating the cluster certificate to ${cert.fingerprint}, signed by the new CA`,
  });
  await waitRotationFinished(node, cert.fingerprint, { ...opts, beganAt }, progress);

  accepted(await node.propose({ kind: "retireCa", fingerprint: oldCa }, "local-admin"));
  progress({
    phase: "ca-retired",
    message: `phase 3/3: old CA ${oldCa} retired; tokens issued before this rotation no longer work`,
  });
  const token = await rotateReusableToken(node);
  progress({
    phase: "token",
    message: "new reusable join token issued (shown once)",
    newToken: token,
  });
  return token;
}

/**
 * Evicts a node: records the removal, removes it from Raft (moving leadership away first
 * if it leads), then rotates the cluster certificate and the reusable join token (the
 * evicted node knew both). Once the rotation finishes, the node
 * can neither connect nor re-enroll. With `rotateCa`, the CA rotates too.
 */
export async function removeNode(
  node: ClusterNode,
  id: string,
  opts: { force: boolean; rotateCa: boolean; signal?: AbortSignal },
  progress: Progress,
): Promise<string> {
  const stats = node.stats();
  const voters = stats.conf.voters;
  if (voters.includes(id)) {
    const remaining = voters.filter((v) => v !== id);
    if (remaining.length === 0 && !opts.force) {
      throw new ConnectError(
        "refusing to remove the last voter (use --force to remove it anyway)",
        Code.FailedPrecondition,
      );
    }
    if (remaining.length > 0) {
      const health = await node.memberHealth();
      const healthy = remaining.filter((v) => health.get(v)?.healthy).length;
      const quorum = Math.floor(remaining.length / 2) + 1;
      if (healthy < quorum && !opts.force) {
        throw new ConnectError(
          `refusing to remove ${label(node, id)}: only ${healthy} of the ${remaining.length} remaining voters are healthy, fewer than the ${quorum} a quorum needs (use --force to remove it anyway)`,
          Code.FailedPrecondition,
        );
      }
    }
  }
  const who = label(node, id);
  // Order matters. (1) Record the removal: the leader's reconciler then never re-adds the
  // node, and drops it from Raft if this call dies half-way. (2) Take it out of Raft: from
  // the moment that change is appended, the leader replicates nothing more to it.
  // (3) Only then begin the rotation, so the new key never reaches the evicted node.
  // The new certificate is issued while the removal commits: it only needs the CA, and it
  // stays in this process until the begin below, which is appended after the removal.
  const issuing = issueFromActiveCa(node);
  issuing.catch(() => undefined);
  progress({ phase: "remove", message: `removing ${who}` });
  accepted(
    await node.propose({ kind: "removeNode", nodeId: id, force: opts.force }, "local-admin"),
  );
  await node.leaderOp("remove-raft", id);
  const { cert, signer } = await issuing;
  const beganAt = accepted(
    await node.propose({ kind: "beginRotation", cert: certInput(cert, signer) }, "local-admin"),
  );
  progress({
    phase: "rotate",
    message: `${who} removed; rotating the cluster certificate and the reusable join token it knew`,
  });
  const token = await rotateReusableToken(node);
  await waitRotationFinished(node, cert.fingerprint, { ...opts, beganAt }, progress);
  if (!opts.rotateCa) {
    progress({
      phase: "token",
      message: "new reusable join token issued (shown once)",
      newToken: token,
    });
    return token;
  }
  progress({ phase: "ca", message: "rotating the CA as asked (--rotate-ca)" });
  return rotateCa(node, opts, progress);
}
