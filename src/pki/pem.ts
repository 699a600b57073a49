import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { PkiError } from "./pki-error.js";
import type { x509 } from "./x509.js";
import { loadX509 } from "./x509-loader.js";

/**
 * PEM in and out. Certificates travel as PEM (the format openssl, curl and grpcurl read) and
 * private keys as unencrypted PKCS#8 PEM, so that the files under `<home>/tls/` are usable
 * by standard tools.
 */

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]+={0,2}$/;

/** One PEM block: its label ("CERTIFICATE", "PRIVATE KEY", ...) and its DER bytes. */
export interface PemBlock {
  label: string;
  der: Uint8Array;
}

/**
 * Splits PEM text into blocks. Text between blocks is ignored (openssl writes "Bag
 * Attributes" there), but each block must be well formed: matching BEGIN/END labels and
 * valid base64 inside. Throws `PkiError("malformed-pem")`; the message never quotes the
 * input, which may be a private key.
 */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin, body, end] = m;
    if (begin !== end) {
      throw new PkiError("malformed-pem", `PEM block BEGIN ${begin} ends with END ${end}`);
    }
    const compact = (body ?? "").replace(/\s+/g, "");
    if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64_BODY.test(compact)) {
      throw new PkiError("malformed-pem", `PEM block ${begin} does not contain valid base64`);
    }
    blocks.push({ label: begin ?? "", der: new Uint8Array(Buffer.from(compact, "base64")) });
  }
  // A BEGIN line without its END (a truncated paste) must not pass as "no blocks here".
  const begins = text.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) {
    throw new PkiError("malformed-pem", "PEM text contains an unterminated block");
  }
  return blocks;
}

/** Encodes DER bytes as one PEM block with 64-character lines. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Parses DER as an X.509 certificate, mapping any parse failure to a typed error. */
export function parseCertificateDer(der: Uint8Array): x509.X509Certificate {
  try {
    return new (loadX509().X509Certificate)(der);
  } catch (cause) {
    throw new PkiError("malformed-certificate", "not a valid X.509 certificate", { cause });
  }
}

/**
 * Reads every CERTIFICATE block from PEM text, in order. Throws if there is none or if
 * any block is not a certificate.
 */
export function certificatesFromPem(text: string): x509.X509Certificate[] {
  const blocks = parsePemBlocks(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) {
    throw new PkiError("malformed-pem", "no CERTIFICATE block found in PEM text");
  }
  return blocks.map((b) => parseCertificateDer(b.der));
}

/** Encodes certificates (objects or DER) as concatenated PEM blocks, in order. */
export function certificatesToPem(certs: readonly (x509.X509Certificate | Uint8Array)[]): string {
  return certs
    .map((c) => encodePem("CERTIFICATE", c instanceof Uint8Array ? c : new Uint8Array(c.rawData)))
    .join("");
}

/** DER bytes of a certificate object. */
export function certificateDer(cert: x509.X509Certificate): Uint8Array {
  return new Uint8Array(cert.rawData);
}

/**
 * Reads a private key from PEM (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY") and requires
 * it to be ECDSA P-256. Throws `PkiError("malformed-key" | "unsupported-key")`; the message
 * never includes the key.
 */
export function privateKeyFromPem(text: string): KeyObject {
  const blocks = parsePemBlocks(text).filter(
    (b) => b.label === "PRIVATE KEY" || b.label === "EC PRIVATE KEY",
  );
  const block = blocks[0];
  if (block === undefined || blocks.length !== 1) {
    throw new PkiError(
      "malformed-pem",
      blocks.length === 0 ? "no PRIVATE KEY block found in PEM text" : "more than one private key",
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key: Buffer.from(block.der),
      format: "der",
      type: block.label === "PRIVATE KEY" ? "pkcs8" : "sec1",
    });
  } catch (cause) {
    throw new PkiError("malformed-key", "the private key cannot be decoded", { cause });
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new PkiError("unsupported-key", "the private key is not an ECDSA P-256 key");
  }
  return key;
}

/** Encodes a private key as unencrypted PKCS#8 PEM. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: "pem", type: "pkcs8" }).toString();
}

/** The SubjectPublicKeyInfo DER of a certificate's public key, for comparisons. */
export function certificateSpki(cert: x509.X509Certificate): Buffer {
  return Buffer.from(cert.publicKey.rawData);
}

/**
 * Throws `PkiError("key-mismatch")` unless `key` is the private key of `cert`: the public
 * key derived from the private key must equal the certificate's public key.
 */
export function assertKeyMatchesCertificate(key: KeyObject, cert: x509.X509Certificate): void {
  const fromKey = createPublicKey(key).export({ format: "der", type: "spki" });
  if (!fromKey.equals(certificateSpki(cert))) {
    throw new PkiError("key-mismatch", "the private key does not belong to the certificate");
  }
}
