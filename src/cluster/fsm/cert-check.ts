/**
 * Checks a certificate carried by a command. The FSM does not parse X.509: the
 * proposer (the leader's PKI code) does, and a parser in apply would tie every
 * replica's decision to its OpenSSL build, a way for replicas to diverge. What
 * the FSM checks is what it can decide deterministically: PEM shape, the
 * fingerprint (recomputed from the DER), the validity window against the
 * command's time, and (in the handlers) that the signer is a trusted CA.
 */

import type { ConfigCertificate } from "../../gen/gastrolog/v1/config_pb.js";
import type { Refusal } from "./result.js";
import { refuse } from "./result.js";
import type { CertRecord } from "./state.js";
import {
  CERT_PEM_LABELS,
  checkFingerprint,
  fingerprintOfDer,
  KEY_PEM_LABELS,
  parsePem,
  toCount,
} from "./validate.js";

/** Returns the record to store, or a refusal. `isCa`: self-signed, no signer. */
export function checkCertificate(
  what: string,
  c: ConfigCertificate | undefined,
  atUnixMs: number,
  isCa: boolean,
): CertRecord | Refusal {
  if (c === undefined) return refuse("invalid_argument", `${what} is required`);
  const der = parsePem(`${what} certificate`, c.certPem, CERT_PEM_LABELS);
  if (typeof der === "string") return refuse("invalid_argument", der);
  const key = parsePem(`${what} private key`, c.keyPem, KEY_PEM_LABELS);
  if (typeof key === "string") return refuse("invalid_argument", key);
  const fingerprint = fingerprintOfDer(der);
  if (c.fingerprint !== "" && c.fingerprint !== fingerprint) {
    return refuse("invalid_argument", `${what} fingerprint does not match its certificate`);
  }
  const notBefore = toCount(c.notBeforeUnixMs);
  const notAfter = toCount(c.notAfterUnixMs);
  if (notBefore === null || notAfter === null || notAfter === 0) {
    return refuse("invalid_argument", `${what} validity times are missing or invalid`);
  }
  if (notAfter <= notBefore) {
    return refuse("invalid_argument", `${what} not-after is not later than its not-before`);
  }
  if (notAfter <= atUnixMs) {
    return refuse("failed_precondition", `${what} ${fingerprint} has already expired`);
  }
  let signer = c.signerFingerprint;
  if (isCa) {
    if (signer !== "" && signer !== fingerprint) {
      return refuse(
        "invalid_argument",
        `${what} must be self-signed (signer is another certificate)`,
      );
    }
    signer = "";
  } else if (signer !== "") {
    const bad = checkFingerprint(`${what} signer fingerprint`, signer);
    if (bad !== null) return refuse("invalid_argument", bad);
  }
  return {
    certPem: c.certPem,
    keyPem: c.keyPem,
    fingerprint,
    notBeforeUnixMs: notBefore,
    notAfterUnixMs: notAfter,
    signerFingerprint: signer,
  };
}

/** Narrows checkCertificate's answer. */
export function isCertRecord(r: CertRecord | Refusal): r is CertRecord {
  return "fingerprint" in r;
}
