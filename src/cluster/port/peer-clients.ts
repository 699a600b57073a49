import type * as http2 from "node:http2";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createGrpcTransport,
  type GrpcTransportOptions,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import type { ClusterTlsState } from "../tls/tls-state.js";

/** Default cap on one message either way on the cluster port: 16 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Options for {@link createPeerClients}. */
export interface PeerClientsOptions {
  tls: ClusterTlsState;
  /** Largest message sent or accepted; default 16 MiB. */
  maxMessageBytes?: number;
  /** TCP + TLS handshake deadline; default 5 s. */
  connectTimeoutMs?: number;
  /** Keepalive PING interval on busy connections; default 10 s. */
  pingIntervalMs?: number;
  /** Close a connection idle this long; default 5 min. */
  idleConnectionTimeoutMs?: number;
}

/**
 * Outgoing mTLS connections to other nodes' cluster ports, one HTTP/2 connection per
 * address. Every transport presents the cluster certificate, trusts only the cluster CAs,
 * dials with the cluster name as server name and refuses a server whose leaf is not in
 * the accepted set (see {@link ClusterTlsState.clientOptions}).
 */
export interface PeerClients {
  /**
   * A Connect gRPC transport to a peer's cluster port at `addr` ("host:port", IPv6 in
   * brackets). The same object is returned for the same address, and it keeps working
   * across {@link swap}: new calls use the new credentials.
   */
  transport(addr: string): Transport;
  /**
   * Installs new credentials. When outgoing connections would be set up exactly as before
   * (same client certificate and key, same trusted CAs and server name:
   * `ClusterTlsState.sameOutboundAs`) and the accepted set only grew, every open connection
   * is still one the new state would make, so they are all kept, and reconnects check the
   * server against the new accepted set: this is the begin of a rotation, where a node
   * accepts the new certificate but still dials with the old one. Otherwise every
   * transport is rebuilt: new calls open new connections with the new state; calls in
   * flight finish on the old connections, which then close. Returns whether the
   * connections were rebuilt.
   */
  swap(next: ClusterTlsState): boolean;
  /** Closes every connection (in-flight calls are aborted) and forgets every address. */
  close(): void;
}

/** Creates the peer-client pool; see {@link PeerClients}. */
export function createPeerClients(options: PeerClientsOptions): PeerClients {
  let state = options.tls;
  const peers = new Map<string, SwappableTransport>();
  const build = (addr: string): Built => {
    const url = `https://${addr}`;
    // The accepted set is read from the pool's state at each handshake, not from the state
    // this transport was built with: a swap that keeps the connections may widen it.
    const tlsOptions: http2.SecureClientSessionOptions = {
      ...(state.clientOptions() as http2.SecureClientSessionOptions),
      checkServerIdentity: (host, cert) => state.checkServerIdentity(host, cert),
    };
    const manager = new DrainingSessionManager(
      new Http2SessionManager(
        url,
        {
          connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
          pingIntervalMs: options.pingIntervalMs ?? 10_000,
          idleConnectionTimeoutMs: options.idleConnectionTimeoutMs ?? 5 * 60_000,
        },
        tlsOptions,
      ),
    );
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const transport = createGrpcTransport({
      baseUrl: url,
      sessionManager: manager,
      readMaxBytes: max,
      writeMaxBytes: max,
      interceptors: [tlsFailureIsUnavailable, retryNeverStarted],
    });
    return { transport, manager };
  };
  return {
    transport(addr) {
      let t = peers.get(addr);
      if (t === undefined) {
        t = new SwappableTransport(build(addr));
        peers.set(addr, t);
      }
      return t;
    },
    swap(next) {
      const keep =
        next.sharesOutboundWith(state) && [...state.accepted].every((fp) => next.accepted.has(fp));
      state = next;
      if (keep) return false;
      for (const [addr, t] of peers) t.replace(build(addr));
      return true;
    },
    close() {
      for (const t of peers.values()) t.abort();
      peers.clear();
    },
  };
}

/** The session-manager contract of connect-node (not exported under its own name). */
type NodeHttp2ClientSessionManager = NonNullable<GrpcTransportOptions["sessionManager"]>;

/** Error codes Node and OpenSSL give a connection that failed server authentication. */
const TLS_FAILURE =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_GASTROLOG_PEER_)/;

/**
 * A peer that fails TLS authentication is, to the caller, a peer it cannot reach: report
 * `unavailable` (as gRPC implementations do for handshake failures) instead of the
 * `internal` that an unrecognised Node error would become. The message keeps the cause.
 */
const tlsFailureIsUnavailable: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    const ce = ConnectError.from(err);
    const cause = ce.cause as { code?: unknown } | undefined;
    if (
      ce.code === Code.Internal &&
      typeof cause?.code === "string" &&
      TLS_FAILURE.test(cause.code)
    ) {
      throw new ConnectError(ce.rawMessage, Code.Unavailable, undefined, undefined, ce.cause);
    }
    throw err;
  }
};

/**
 * A unary call the peer never started may be sent again: its stream was refused
 * (REFUSED_STREAM: "no application processing", RFC 9113 §8.7), or the connection was
 * going away before the stream could be opened. This happens when a peer has just told
 * the connection to go away (a rotation's finish, a restart) and the call raced that
 * message; the retry goes out on a new connection. Once, and never for streams (the Raft
 * transport has its own recovery).
 */
const retryNeverStarted: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    if (req.stream || !neverStarted(err)) throw err;
    return await next(req);
  }
};

function neverStarted(err: unknown): boolean {
  const e = ConnectError.from(err);
  const cause = e.cause as { code?: unknown } | undefined;
  return (
    /REFUSED_STREAM/.test(e.rawMessage) ||
    cause?.code === "ERR_HTTP2_GOAWAY_SESSION" ||
    (cause?.code === "ERR_HTTP2_STREAM_ERROR" && /REFUSED_STREAM/.test(String(cause)))
  );
}

interface Built {
  transport: Transport;
  manager: DrainingSessionManager;
}

/** A Transport whose underlying connection can be replaced without the caller noticing. */
class SwappableTransport implements Transport {
  #current: Built;

  constructor(initial: Built) {
    this.#current = initial;
  }

  replace(next: Built): void {
    const old = this.#current;
    this.#current = next;
    old.manager.drain();
  }

  abort(): void {
    this.#current.manager.abort();
  }

  unary: Transport["unary"] = (...args) => this.#current.transport.unary(...args);
  stream: Transport["stream"] = (...args) => this.#current.transport.stream(...args);
}

/**
 * Wraps connect-node's session manager (which brings connect timeouts, keepalive PINGs and
 * GOAWAY handling) with a graceful drain: after {@link drain}, the connection closes as
 * soon as its last stream has finished, instead of being cut with streams in flight.
 */
class DrainingSessionManager implements NodeHttp2ClientSessionManager {
  readonly #inner: Http2SessionManager;
  #open = 0;
  #draining = false;

  constructor(inner: Http2SessionManager) {
    this.#inner = inner;
  }

  get authority(): string {
    return this.#inner.authority;
  }

  async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    // Counted from the start: a call still connecting when drain() runs must not be
    // aborted as if nothing were in flight.
    this.#open++;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = await this.#inner.request(method, path, headers, options);
    } catch (err) {
      this.#release();
      throw err;
    }
    stream.once("close", () => this.#release());
    return stream;
  }

  #release(): void {
    this.#open--;
    if (this.#draining && this.#open === 0) this.#inner.abort();
  }

  notifyResponseByteRead(stream: http2.ClientHttp2Stream): void {
    this.#inner.notifyResponseByteRead(stream);
  }

  drain(): void {
    this.#draining = true;
    if (this.#open === 0) this.#inner.abort();
  }

  abort(): void {
    this.#inner.abort();
  }
}
