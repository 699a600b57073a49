import { once } from "node:events";
import * as http2 from "node:http2";
import * as tls from "node:tls";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport, type GrpcTransportOptions } from "@connectrpc/connect-node";
import { clusterIdOfCa, clusterServerName } from "../../pki/certificate.js";
import {
  type ChainRefusal,
  checkEnrollmentChain,
  describeChainRefusal,
} from "../../pki/enrollment-chain.js";
import { fingerprint } from "../../pki/fingerprint.js";
import type { x509 } from "../../pki/x509.js";
import { CLUSTER_ALPN } from "./tls-state.js";

/** Options for {@link dialEnrollment}. */
export interface EnrollmentDialOptions {
  /** The join address: host and cluster port of any member. */
  host: string;
  port: number;
  /** The CA hash from the join token. */
  caHash: string;
  /**
   * The cluster name the server's leaf must carry. Default: derived from the cluster id in
   * the pinned CA's subject (see `createClusterCa`), which is trustworthy because the CA
   * matched the token's hash.
   */
  expectedName?: string;
  /** Deadline for TCP + TLS; default 10 s. */
  timeoutMs?: number;
  /** Largest message either way; default 16 MiB. */
  maxMessageBytes?: number;
  /** Clock for the validity check; default now. */
  now?: () => Date;
}

/** A connection to a cluster port whose chain passed the enrollment check. */
export interface EnrollmentConnection {
  /** gRPC over the verified TLS socket: use it for `GetCABundle` and `Enroll`. */
  transport: Transport;
  /** The pinned CA, as the server presented it. */
  ca: x509.X509Certificate;
  /** The server's certificate, verified as signed by the pinned CA. */
  leaf: x509.X509Certificate;
  /** Fingerprint of {@link leaf}. */
  leafFingerprint: string;
  /**
   * Resolves once the next call started on {@link transport} (or the one in flight) has
   * handed its whole request to the socket: from then on the caller only waits for the
   * server, and can do its own work without delaying what it sent.
   */
  whenSent(): Promise<void>;
  /** Closes the connection (gracefully: calls in flight finish). */
  close(): void;
}

/** The server's chain failed the enrollment check; nothing was sent to it. */
export class EnrollmentChainError extends Error {
  override readonly name = "EnrollmentChainError";
  readonly reason: ChainRefusal;

  constructor(reason: ChainRefusal) {
    super(`refusing to enroll: ${describeChainRefusal(reason)}`);
    this.reason = reason;
  }
}

/**
 * Enrollment step 1–2: opens TLS 1.3 to a cluster port without client credentials,
 * checks the chain the server presented against the token's CA hash (see
 * `checkEnrollmentChain`: the CA must be in the chain, be a CA, and have signed the leaf,
 * checked by signature) and only then lets the caller send anything, over that same
 * socket. On refusal the socket is destroyed before a single application byte is written
 * and {@link EnrollmentChainError} says why.
 *
 * Node's own verification is switched off for this one connection (`rejectUnauthorized:
 * false`, no hostname check): the joiner has no CA to give it yet, only a hash, and the
 * check below is stricter than Node's name-linked chain building.
 */
export async function dialEnrollment(
  options: EnrollmentDialOptions,
): Promise<EnrollmentConnection> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const socket = tls.connect({
    host: options.host,
    port: options.port,
    ...(options.expectedName === undefined ? {} : { servername: options.expectedName }),
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    ALPNProtocols: [CLUSTER_ALPN],
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
  // The first call over this connection needs the fetch API's Headers class, which Node
  // loads (its bundled undici) on first use: 10-25 ms of compiling. Load it while the
  // server works on the handshake (the ClientHello is out once "connect" fires), not when
  // the caller's first call, the one that carries the secret, would wait on it.
  socket.once("connect", () => setImmediate(loadFetchHeaders));
  const abort = AbortSignal.timeout(timeoutMs);
  try {
    await once(socket, "secureConnect", { signal: abort });
  } catch (err) {
    socket.destroy();
    if (abort.aborted) {
      throw new Error(
        `TLS to ${options.host}:${options.port} not established within ${timeoutMs} ms`,
      );
    }
    throw err;
  }

  const result = await checkEnrollmentChain({
    chain: presentedChain(socket),
    caHash: options.caHash,
    expectedName:
      options.expectedName ??
      ((ca) => {
        const id = clusterIdOfCa(ca);
        return id === undefined ? undefined : clusterServerName(id);
      }),
    now: options.now?.() ?? new Date(),
  });
  if (!result.ok) {
    // destroySoon, not destroy: the TLS Finished and close_notify still in the write
    // queue go out (they carry no application data), so the server sees an orderly close.
    socket.destroySoon();
    throw new EnrollmentChainError(result.reason);
  }
  if (socket.alpnProtocol !== CLUSTER_ALPN) {
    socket.destroy();
    throw new Error("the server did not negotiate HTTP/2 (ALPN h2)");
  }

  const authority = `https://${formatHost(options.host)}:${options.port}`;
  const session = http2.connect(authority, { createConnection: () => socket });
  session.on("error", () => {
    // Surfaced to callers through the failing stream; nothing else to do here.
  });
  const max = options.maxMessageBytes ?? 16 * 1024 * 1024;
  const manager = singleSession(authority, session);
  const transport = createGrpcTransport({
    baseUrl: authority,
    sessionManager: manager,
    readMaxBytes: max,
    writeMaxBytes: max,
  });
  return {
    transport,
    ca: result.ca,
    leaf: result.leaf,
    leafFingerprint: fingerprint(new Uint8Array(result.leaf.rawData)),
    whenSent: manager.whenSent,
    close() {
      if (!session.closed) session.close();
    },
  };
}

/**
 * The certificates the server presented, leaf first, as DER. Node exposes them as a
 * linked list (`issuerCertificate`) that ends in a certificate pointing at itself; the walk
 * stops at any repeat so a crafted loop cannot spin it, and after 10 certificates.
 */
export function presentedChain(socket: tls.TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw !== undefined && out.length < 10) {
    const der = new Uint8Array(cert.raw);
    const fp = fingerprint(der);
    if (seen.has(fp)) break;
    seen.add(fp);
    out.push(der);
    cert = cert.issuerCertificate;
  }
  return out;
}

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

type SessionManager = NonNullable<GrpcTransportOptions["sessionManager"]>;

/**
 * A session manager over one already-established session: no reconnects, by design. It
 * also tells when a request has been sent ({@link EnrollmentConnection.whenSent}).
 */
function singleSession(
  authority: string,
  session: http2.ClientHttp2Session,
): SessionManager & { whenSent(): Promise<void> } {
  let inFlight: Promise<void> | undefined;
  let waiters: (() => void)[] = [];
  return {
    authority,
    async request(method, path, headers, options) {
      const stream = session.request({ ...headers, ":method": method, ":path": path }, options);
      const sent = new Promise<void>((resolve) => {
        // "finish": the request body is ended and handed to HTTP/2; the frames reach the
        // socket when the session next flushes, which a setImmediate waits for.
        const done = (): void => {
          stream.off("finish", done);
          stream.off("close", done);
          setImmediate(resolve);
        };
        stream.once("finish", done);
        stream.once("close", done);
      });
      inFlight = sent;
      void sent.then(() => {
        if (inFlight === sent) inFlight = undefined;
      });
      const ready = waiters;
      waiters = [];
      for (const w of ready) void sent.then(w);
      return stream;
    },
    notifyResponseByteRead() {},
    whenSent() {
      if (inFlight) return inFlight;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

function loadFetchHeaders(): void {
  void new Headers();
}
