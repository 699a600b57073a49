import { type webcrypto, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { randomSerial } from "../pki/certificate.js";
import { encodePem } from "../pki/pem.js";
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, loadX509, subtle } from "../pki/x509-loader.js";
import { writeFileAtomic } from "../util/atomic-file.js";

/** Options for {@link serveHealthPort}. */
export interface HealthPortOptions {
  host: string;
  port: number;
  /** <home>/https: holds the self-signed certificate made on first start. */
  httpsDir: string;
  /** True when the node can serve (it has a leader and the cluster state). */
  ready: () => boolean;
}

/** The HTTPS/API port; until the authenticated API lands it serves only health. */
export interface HealthPort {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Loads <dir>/cert.pem and key.pem, or makes a self-signed ECDSA certificate for
 * localhost there (key 0600) when none exists. Operators may replace both files.
 */
async function loadOrCreateHttpsCert(dir: string): Promise<{ cert: string; key: string }> {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  try {
    const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    new X509Certificate(cert);
    return { cert, key };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const x509 = loadX509();
  const keys = (await subtle.generateKey(EC_KEY_ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: "CN=gastrolog",
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 2 * 365 * 24 * 3600_000),
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const key = encodePem(
    "PRIVATE KEY",
    new Uint8Array(await subtle.exportKey("pkcs8", keys.privateKey)),
  );
  const cert = c.toString("pem");
  await writeFileAtomic(keyPath, key, { mode: 0o600 });
  await writeFileAtomic(certPath, `${cert}\n`, { mode: 0o644 });
  return { cert, key };
}

/**
 * Serves /healthz (the process is up) and /readyz (the node has a leader and the cluster
 * state) over HTTPS. No admin method is reachable here until authentication lands.
 */
export async function serveHealthPort(options: HealthPortOptions): Promise<HealthPort> {
  const { cert, key } = await loadOrCreateHttpsCert(options.httpsDir);
  const server = https.createServer({ cert, key, minVersion: "TLSv1.2" }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const ok = options.ready();
      res
        .writeHead(ok ? 200 : 503, { "content-type": "text/plain" })
        .end(ok ? "ready\n" : "not ready\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
