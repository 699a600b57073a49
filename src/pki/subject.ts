import { X509Certificate as NodeX509 } from "node:crypto";
import { certificatesFromPem, parsePemBlocks } from "./pem.js";

/**
 * One line of Node's (OpenSSL's) subject rendering that @peculiar/x509 renders the same
 * way: an attribute both name alike, and a value with no character either of them quotes
 * or escapes (no leading or trailing space, nothing of `,+"\<>;=#`).
 */
const PLAIN_RDN = /^(?:CN|O|OU|C|L|ST)=[A-Za-z0-9._-](?:[A-Za-z0-9 ._-]*[A-Za-z0-9._-])?$/;

/**
 * The subject of the first certificate in PEM text, as `certificatesFromPem(pem)[0].subject`
 * gives it ("O=gastrolog, CN=..."). PEM holding one certificate with a plain subject (as
 * this project's certificates are) is read with Node's parser, which spares loading
 * @peculiar/x509 for a status call; anything else goes through `certificatesFromPem`, and
 * throws as it does.
 */
export function certificateSubject(certPem: string): string {
  const blocks = parsePemBlocks(certPem).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 1) {
    let lines: string[] | undefined;
    try {
      lines = new NodeX509(blocks[0]!.der).subject.split("\n");
    } catch {
      lines = undefined;
    }
    if (lines?.every((l) => PLAIN_RDN.test(l))) return lines.join(", ");
  }
  return certificatesFromPem(certPem)[0]?.subject ?? "";
}
