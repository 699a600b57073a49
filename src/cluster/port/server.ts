import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DescService } from "@bufbuild/protobuf";
import { type ConnectRouter, createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { EnrollService } from "../../gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../../gen/gastrolog/v1/health_pb.js";
import { type Logger, silentLogger } from "../../log.js";
import { fingerprint } from "../../pki/fingerprint.js";
import type { ClusterTlsState } from "../tls/tls-state.js";
import { createEnrollService, type EnrollHandler } from "./enroll-service.js";
import { authenticatePeer, createGateInterceptor, gateError } from "./gate.js";
import { writeGrpcError } from "./grpc-error-response.js";
import { createHealthService } from "./health-service.js";
import type { HeldPort } from "./held-port.js";
import { createPeerClients, DEFAULT_MAX_MESSAGE_BYTES, type PeerClients } from "./peer-clients.js";
import { type PeerAuth, type PeerIdentity, peerIdentityKey } from "./peer-identity.js";

/** Default cluster port. */
export const DEFAULT_CLUSTER_PORT = 4566;

/**
 * The only procedures served without an authenticated peer: a joining node has no
 * certificate yet. Fixed here, not configurable, so that registering a service can never
 * widen the unauthenticated surface by mistake.
 */
export const PUBLIC_PROCEDURES: ReadonlySet<string> = new Set([
  `/${EnrollService.typeName}/${EnrollService.method.enroll.name}`,
  `/${EnrollService.typeName}/${EnrollService.method.getCABundle.name}`,
]);

/** Options for {@link createClusterPortServer}. */
export interface ClusterPortServerOptions {
  /** The TLS state to start with; replace it later with `swapTls`. */
  tls: ClusterTlsState;
  /** This node's id, reported by `HealthService.Check`. */
  nodeId: string;
  /** The node's current Raft role, reported by `HealthService.Check`; default "unknown". */
  role?: () => string;
  /** Address to bind; default all interfaces. Tests use "127.0.0.1". */
  host?: string;
  /** Port to bind; default 4566. 0 picks a free port (see `listen()`). */
  port?: number;
  /**
   * A port bound beforehand (a joining node's, see holdPort): `listen()` serves the
   * connections it hands over instead of binding `host:port`, and `close()` closes it.
   */
  listener?: HeldPort;
  /** Handler for `EnrollService.Enroll`; until one is set, Enroll answers `unimplemented`. */
  enroll?: EnrollHandler;
  /** Largest message accepted or sent, either way; default 16 MiB. */
  maxMessageBytes?: number;
  /**
   * How long a session told to go away (on swap or close) may keep running its in-flight
   * calls before it is destroyed; default 30 s.
   */
  drainTimeoutMs?: number;
  /** Unix milliseconds for `HealthService.Check`; default `Date.now`. */
  clock?: () => number;
  logger?: Logger;
}

/** What a TLS swap did. */
export interface SwapResult {
  /** Open sessions sent a GOAWAY because their peer or local certificate is no longer accepted. */
  closedSessions: number;
}

/**
 * A node's cluster port: gRPC over HTTP/2, TLS 1.3, client certificates, with an
 * authentication gate in front of every handler. See docs/security.md.
 */
export interface ClusterPortServer {
  /** Binds and starts serving; resolves to the bound port. */
  listen(): Promise<number>;
  /** The bound address, once listening. */
  address(): AddressInfo | undefined;
  /**
   * Adds (or replaces) a service served to authenticated peers only: the Raft transport,
   * forwarding, other inter-node RPCs. May be called before or after `listen()`.
   * `HealthService` and `EnrollService` are built in and cannot be registered.
   */
  register<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void;
  /** Sets (or clears) the handler behind the public `EnrollService.Enroll`. */
  setEnrollHandler(handler: EnrollHandler | undefined): void;
  /** The TLS state in force. */
  tls(): ClusterTlsState;
  /**
   * Hot reload. New connections get the new certificate and trust immediately
   * (`setSecureContext`, no restart); open sessions whose peer or local certificate is no
   * longer accepted get a GOAWAY, so in-flight calls finish and the peer reconnects with
   * current credentials; the peer clients are rebuilt with the new state. A state that is
   * the same as the one in force (`ClusterTlsState.sameAs`) changes nothing.
   */
  swapTls(next: ClusterTlsState): SwapResult;
  /** Outgoing connections to other nodes, with this node's current credentials. */
  readonly peers: PeerClients;
  /**
   * Stops accepting connections, sends every session a GOAWAY, waits for in-flight calls
   * (up to `drainTimeoutMs`, then destroys what is left), and closes the peer clients.
   */
  close(): Promise<void>;
}

/** Creates a cluster-port server; see {@link ClusterPortServer}. It does not listen yet. */
export function createClusterPortServer(options: ClusterPortServerOptions): ClusterPortServer {
  const log = options.logger ?? silentLogger();
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  let state = options.tls;
  let enrollHandler = options.enroll;
  const services = new Map<string, { service: DescService; impl: object }>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const requestPeers = new WeakMap<http2.Http2ServerRequest, PeerIdentity>();
  // Per-socket verdict cache, invalidated by identity of the state it was computed with.
  const socketAuth = new WeakMap<TLSSocket, { state: ClusterTlsState; auth: PeerAuth }>();
  const peers = createPeerClients({ tls: state, maxMessageBytes });

  const builtin = (router: ConnectRouter): void => {
    router.service(
      HealthService,
      createHealthService({
        nodeId: options.nodeId,
        role: options.role ?? (() => "unknown"),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      }),
    );
    router.service(
      EnrollService,
      createEnrollService({ tls: () => state, enroll: () => enrollHandler }),
    );
  };

  let connectHandler: ReturnType<typeof connectNodeAdapter> | undefined;
  const handler = (): ReturnType<typeof connectNodeAdapter> => {
    connectHandler ??= connectNodeAdapter({
      grpc: true,
      // The cluster port speaks gRPC only: one wire format for the gate to answer in.
      connect: false,
      grpcWeb: false,
      readMaxBytes: maxMessageBytes,
      writeMaxBytes: maxMessageBytes,
      interceptors: [createGateInterceptor((p) => PUBLIC_PROCEDURES.has(p))],
      routes(router) {
        builtin(router);
        for (const { service, impl } of services.values()) {
          router.service(service, impl as Partial<ServiceImpl<DescService>>);
        }
      },
      contextValues(req) {
        const values = createContextValues();
        const peer = requestPeers.get(req as http2.Http2ServerRequest);
        if (peer !== undefined) values.set(peerIdentityKey, peer);
        return values;
      },
    });
    return connectHandler;
  };

  // The certificates of a session never change: fingerprint them once, not at every swap.
  const fingerprints = new WeakMap<TLSSocket, { peer?: string; local?: string }>();
  const socketFingerprints = (socket: TLSSocket): { peer?: string; local?: string } => {
    let fps = fingerprints.get(socket);
    if (fps === undefined) {
      const peer = socket.getPeerX509Certificate();
      const local = socket.getX509Certificate();
      fps = {
        ...(peer === undefined ? {} : { peer: fingerprint(new Uint8Array(peer.raw)) }),
        ...(local === undefined ? {} : { local: fingerprint(new Uint8Array(local.raw)) }),
      };
      fingerprints.set(socket, fps);
    }
    return fps;
  };

  const authenticate = (socket: TLSSocket): PeerAuth => {
    const cached = socketAuth.get(socket);
    if (cached !== undefined && cached.state === state) return cached.auth;
    const auth = authenticatePeer(socket, state);
    socketAuth.set(socket, { state, auth });
    return auth;
  };

  const server = http2.createSecureServer({
    ...state.serverOptions(),
    allowHTTP1: false,
    // A TLS handshake that has not finished in 10 s is not a node.
    handshakeTimeout: 10_000,
    maxSessionMemory: 32,
    settings: {
      maxConcurrentStreams: 256,
      maxHeaderListSize: 16 * 1024,
      initialWindowSize: 1024 * 1024,
    },
  });

  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // An HTTP/2 session error is the peer's problem, not the process's.
    session.on("error", (err) => log.debug({ err: err.message }, "cluster-port session error"));
  });
  server.on("tlsClientError", (err) => {
    log.debug({ err: err.message }, "cluster-port TLS handshake failed");
  });

  server.on("request", (req, res) => {
    const socket = req.stream.session?.socket as TLSSocket | undefined;
    if (socket === undefined) {
      req.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const auth = authenticate(socket);
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    if (auth.t !== "authenticated" && !PUBLIC_PROCEDURES.has(path)) {
      log.debug(
        { remote: socket.remoteAddress, peer: auth.t, path: path.slice(0, 200) },
        "cluster-port request refused by the gate",
      );
      writeGrpcError(req.stream, gateError(auth));
      return;
    }
    requestPeers.set(req, {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      auth,
    });
    handler()(req, res);
  });

  const goAway = (session: http2.ServerHttp2Session): void => {
    if (session.closed || session.destroyed) return;
    session.close();
    setTimeout(() => {
      if (!session.destroyed) session.destroy();
    }, drainTimeoutMs).unref();
  };

  return {
    listen() {
      const held = options.listener;
      if (held) {
        held.handOver((socket) => server.emit("connection", socket));
        setImmediate(() => handler());
        return Promise.resolve(held.address().port);
      }
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once("error", onError);
        const onListening = (): void => {
          server.off("error", onError);
          // Built while the node goes on starting, not on the first request: that is often
          // a peer's first Raft message to a node that has just joined.
          setImmediate(() => handler());
          resolve((server.address() as AddressInfo).port);
        };
        const port = options.port ?? DEFAULT_CLUSTER_PORT;
        // Without a host, Node binds "::" where IPv6 exists and 0.0.0.0 where it does not.
        if (options.host === undefined) server.listen(port, onListening);
        else server.listen(port, options.host, onListening);
      });
    },
    address() {
      if (options.listener) return options.listener.address();
      const a = server.address();
      return a !== null && typeof a === "object" ? a : undefined;
    },
    register(service, impl) {
      if (
        service.typeName === HealthService.typeName ||
        service.typeName === EnrollService.typeName
      ) {
        throw new Error(
          `${service.typeName} is built into the cluster port and cannot be registered`,
        );
      }
      services.set(service.typeName, { service, impl });
      connectHandler = undefined;
    },
    setEnrollHandler(next) {
      enrollHandler = next;
    },
    tls: () => state,
    swapTls(next) {
      if (next.sameAs(state)) {
        // Nothing on the wire would change (the config store handing a node the material
        // it already serves, as after enrollment): keep the context, the sessions and the
        // peer connections, and the verdicts cached for this state.
        return { closedSessions: 0 };
      }
      // The finish of a rotation changes only what is accepted and what this node dials
      // with: the server context stays (building one parses the chain, key and CAs).
      if (!next.sameServerContextAs(state)) server.setSecureContext(next.secureContextOptions());
      // A swap that keeps the trusted CAs and only adds to the accepted set (the begin of a
      // rotation) cannot make any open session unacceptable: nothing to sweep. (A session
      // whose peer was never accepted stays as it was: the gate refuses its every call.)
      const widens =
        next.trustedCaPem === state.trustedCaPem &&
        [...state.accepted].every((fp) => next.accepted.has(fp));
      state = next;
      let closedSessions = 0;
      for (const session of widens ? [] : sessions) {
        // A session destroyed but not yet closed has no socket any more: nothing to judge,
        // and it must not stop the swap half-way (the peer clients below still need it).
        const socket = session.socket as TLSSocket | undefined;
        if (session.destroyed || socket === undefined) continue;
        const { peer, local } = socketFingerprints(socket);
        const peerGone = peer !== undefined && !next.isAccepted(peer);
        const localGone = local !== undefined && !next.isAccepted(local);
        if (peerGone || localGone) {
          goAway(session);
          closedSessions++;
        }
      }
      peers.swap(next);
      log.info(
        { fingerprint: next.fingerprint, accepted: [...next.accepted], closedSessions },
        "cluster-port TLS state swapped",
      );
      return { closedSessions };
    },
    peers,
    async close() {
      peers.close();
      const wasListening = server.listening;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) goAway(session);
      await options.listener?.close();
      if (wasListening) await closed;
    },
  };
}
