import { createHmac, type KeyObject, X509Certificate as NodeX509, randomBytes } from "node:crypto";
import type * as tls from "node:tls";
import { createSecureContext, checkServerIdentity as defaultCheckServerIdentity } from "node:tls";
import { assertIsCa, isCaCertificate } from "../../pki/certificate.js";
import { certificateHasName } from "../../pki/enrollment-chain.js";
import { fingerprint, isFingerprint } from "../../pki/fingerprint.js";
import {
  certificatesToPem,
  parseCertificateDer,
  parsePemBlocks,
  privateKeyFromPem,
} from "../../pki/pem.js";
import { PkiError } from "../../pki/pki-error.js";
import type { x509 } from "../../pki/x509.js";
import { loadX509 } from "../../pki/x509-loader.js";

/** TLS 1.3 only, both ways: the cluster port has no legacy peers to accommodate. */
const TLS_VERSION: tls.SecureVersion = "TLSv1.3";

/** The only ALPN protocol the cluster port speaks. */
export const CLUSTER_ALPN = "h2";

/** The TLS material a node holds, as stored on disk and replicated in the config FSM. */
export interface ClusterTlsMaterial {
  /**
   * Trusted CA certificates, PEM. Each string may hold several certificates; during a CA
   * rotation there are two.
   */
  trustedCaPems: readonly string[];
  /** The cluster certificate this node presents, PEM; a CA following it is ignored. */
  certPem: string;
  /** Its private key, PEM. */
  keyPem: string;
  /**
   * Fingerprints of the cluster certificates peers may present: the current one, plus the
   * previous one while a rotation is in flight. Default: this node's own certificate.
   */
  accepted?: readonly string[];
  /**
   * The TLS server name to dial peers with. Default: the first DNS SAN (else the CN) of
   * this node's certificate, which is the cluster name.
   */
  serverName?: string;
}

/** How many peer-certificate trust decisions to remember per state. */
const TRUST_CACHE_LIMIT = 256;

/**
 * A parsed certificate and the verdicts about it that {@link ClusterTlsState.fromPem}
 * needs. Every verdict is a pure function of the DER (and of the other certificate's DER,
 * for signatures), so it is computed once per fingerprint and kept: a node rebuilds its
 * state from the same PEM several times (enrollment, the config store replaying it,
 * every rotation step). The checks a new cluster certificate needs on every node at a
 * rotation (signature, key, name) use Node's X.509 parser, which is several times faster
 * than @peculiar/x509's; the latter's object is built only when someone asks for it.
 * The CA check and the default name read Node's parse too whenever it gives the same
 * answer (see {@link isCa} and {@link defaultNameOf}), so that building a state from this
 * project's certificates does not load @peculiar/x509 at all (see pki/x509-loader.ts).
 */
interface CertEntry {
  readonly der: Uint8Array;
  readonly fingerprint: string;
  /** Node's parse: signature, key and name checks. */
  readonly native: NodeX509;
  /** @peculiar/x509's parse, built on first use (see {@link certOf}). */
  parsed?: x509.X509Certificate;
  isCa?: boolean;
  /** Name → does the certificate carry it (DNS SAN, or CN without SAN). */
  readonly names: Map<string, boolean>;
  /** Issuer fingerprint → does the issuer's key verify this certificate's signature. */
  readonly signedBy: Map<string, boolean>;
  /** The name peers are dialled with by default: first DNS SAN, else CN. */
  defaultName?: string | null;
}

/** How many parsed certificates to keep (process-wide; CAs and cluster certificates). */
const CERT_CACHE_LIMIT = 64;
const certCache = new Map<string, CertEntry>();

/** The certificate for `der`, parsed at most once while it stays in the cache. */
function certEntry(der: Uint8Array): CertEntry {
  const fp = fingerprint(der);
  const hit = certCache.get(fp);
  if (hit !== undefined) {
    // Least recently used goes first: move this one to the end.
    certCache.delete(fp);
    certCache.set(fp, hit);
    return hit;
  }
  let native: NodeX509;
  try {
    native = new NodeX509(der);
  } catch (cause) {
    throw new PkiError("malformed-certificate", "not a valid X.509 certificate", { cause });
  }
  const entry: CertEntry = {
    der,
    fingerprint: fp,
    native,
    names: new Map(),
    signedBy: new Map(),
  };
  if (certCache.size >= CERT_CACHE_LIMIT) {
    const oldest = certCache.keys().next().value;
    if (oldest !== undefined) certCache.delete(oldest);
  }
  certCache.set(fp, entry);
  return entry;
}

/** The @peculiar/x509 object of an entry, parsed on first use. */
function certOf(e: CertEntry): x509.X509Certificate {
  e.parsed ??= parseCertificateDer(e.der);
  return e.parsed;
}

/**
 * Every CERTIFICATE block of PEM text, parsed (through the cache), in order. Same rules
 * and errors as `certificatesFromPem`.
 */
function certEntriesFromPem(text: string): CertEntry[] {
  const blocks = parsePemBlocks(text).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) {
    throw new PkiError("malformed-pem", "no CERTIFICATE block found in PEM text");
  }
  return blocks.map((b) => certEntry(b.der));
}

/**
 * Same answer as `isCaCertificate`. Node's `ca` is OpenSSL's X509_check_ca() == 1, which
 * holds exactly when basicConstraints says CA:true and keyUsage, if present, has
 * keyCertSign: the same rule. OpenSSL is the stricter reader (it refuses, for example, a
 * certificate with a duplicated extension), so a "no" from it is asked again of
 * @peculiar/x509, and the verdict stays what it was before this shortcut.
 */
function isCa(e: CertEntry): boolean {
  e.isCa ??= e.native.ca || isCaCertificate(certOf(e));
  return e.isCa;
}

/** True when `ca`'s public key verifies `cert`'s signature. */
function isSignedBy(cert: CertEntry, ca: CertEntry): boolean {
  let ok = cert.signedBy.get(ca.fingerprint);
  if (ok === undefined) {
    ok = cert.native.verify(ca.native.publicKey);
    cert.signedBy.set(ca.fingerprint, ok);
  }
  return ok;
}

/**
 * Same answer as `certificateHasName`: with a SAN extension, one of its DNS names equals
 * `name` (case-insensitive); without one, the CN does. Node renders the SAN as
 * "DNS:a, DNS:b, IP Address:..." and quotes any entry holding a separator or other special
 * characters, so an entry matches only when it is exactly `DNS:<name>`.
 */
function hasName(e: CertEntry, name: string): boolean {
  let ok = e.names.get(name);
  if (ok === undefined) {
    const san = e.native.subjectAltName;
    if (san === undefined) {
      ok = certificateHasName(certOf(e), name);
    } else {
      const wanted = `dns:${name.toLowerCase()}`;
      ok = san.split(", ").some((entry) => entry.toLowerCase() === wanted);
    }
    e.names.set(name, ok);
  }
  return ok;
}

/**
 * Node's rendering of a SAN extension that holds only DNS names and IP addresses made of
 * plain characters: then it is exactly "DNS:a, IP Address:b, ..." in certificate order,
 * nothing is quoted or escaped, and splitting on ", " gives the entries back.
 */
const PLAIN_SAN_ENTRY = "(?:DNS:[A-Za-z0-9*_.-]+|IP Address:[0-9A-Fa-f.:]+)";
const PLAIN_SAN = new RegExp(`^${PLAIN_SAN_ENTRY}(?:, ${PLAIN_SAN_ENTRY})*$`);

/**
 * Same answer as `nameOf`: the first DNS SAN, else the CN. Read from Node's parse when its
 * SAN rendering is plain (see {@link PLAIN_SAN}) and has a DNS name, as this project's
 * cluster certificates do; from @peculiar/x509 otherwise.
 */
function defaultNameOf(e: CertEntry): string | undefined {
  if (e.defaultName === undefined) {
    const san = e.native.subjectAltName;
    const dns =
      san !== undefined && PLAIN_SAN.test(san)
        ? san.split(", ").find((entry) => entry.startsWith("DNS:"))
        : undefined;
    e.defaultName = dns !== undefined ? dns.slice("DNS:".length) : (nameOf(certOf(e)) ?? null);
  }
  return e.defaultName ?? undefined;
}

/**
 * Keys already checked against a certificate: `mac(key PEM)|certificate fingerprint`.
 * Only a keyed MAC of the key is kept (with a random per-process key), never the key.
 */
const KEY_CHECK_LIMIT = 16;
const keyChecks = new Set<string>();
const keyCheckMacKey = randomBytes(32);

/**
 * Secure contexts of outgoing connections, by a keyed MAC of the material they are built
 * from (certificate chain, key, trusted CAs): building one decodes the key and the
 * certificates (milliseconds with OpenSSL 3). A rotation's finish makes every node dial
 * with the certificate it has presented as a server since the begin; the context for that
 * is built ahead, while the node waits for the finish ({@link ClusterTlsState.prepareFinishClientContext}).
 */
const CLIENT_CONTEXT_LIMIT = 4;
const clientContexts = new Map<string, tls.SecureContext>();

function clientContextFor(options: tls.SecureContextOptions): tls.SecureContext {
  const id = createHmac("sha256", keyCheckMacKey)
    .update(String(options.cert))
    .update("\0")
    .update(String(options.key))
    .update("\0")
    .update(String(options.ca))
    .digest("hex");
  const hit = clientContexts.get(id);
  if (hit !== undefined) {
    clientContexts.delete(id);
    clientContexts.set(id, hit);
    return hit;
  }
  const ctx = createSecureContext(options);
  if (clientContexts.size >= CLIENT_CONTEXT_LIMIT) {
    const oldest = clientContexts.keys().next().value;
    if (oldest !== undefined) clientContexts.delete(oldest);
  }
  clientContexts.set(id, ctx);
  return ctx;
}

/** Throws like `privateKeyFromPem` + `assertKeyMatchesCertificate`, once per pair. */
function checkKeyMatches(keyPem: string, cert: CertEntry): void {
  const id = `${createHmac("sha256", keyCheckMacKey).update(keyPem).digest("hex")}|${cert.fingerprint}`;
  if (keyChecks.has(id)) return;
  if (!cert.native.checkPrivateKey(privateKeyFromPem(keyPem))) {
    throw new PkiError("key-mismatch", "the private key does not belong to the certificate");
  }
  if (keyChecks.size >= KEY_CHECK_LIMIT) {
    const oldest = keyChecks.values().next().value;
    if (oldest !== undefined) keyChecks.delete(oldest);
  }
  keyChecks.add(id);
}

/** The certificate chain and key outgoing connections present, when not the server's. */
interface ClientIdentity {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly fingerprint: string;
}

/**
 * One immutable snapshot of a node's cluster TLS: the trusted CAs, the certificate and key
 * it presents, and the accepted set of peer fingerprints. A node swaps the whole snapshot
 * (server and peer clients together) when the config FSM changes any of it, so a
 * connection is always judged against one consistent view.
 *
 * Constructing one validates everything and throws `PkiError` with a precise code:
 * malformed PEM, a key that does not match the certificate, a non-CA among the trusted
 * CAs, a certificate not signed by any trusted CA, a malformed fingerprint.
 */
export class ClusterTlsState {
  /** Fingerprint of {@link certificate}. */
  readonly fingerprint: string;
  /** Fingerprints of peer certificates this node accepts. */
  readonly accepted: ReadonlySet<string>;
  /** The TLS server name peers are dialled with: the cluster name. */
  readonly serverName: string;

  readonly #cas: readonly CertEntry[];
  readonly #leaf: CertEntry;
  readonly #issuer: CertEntry;
  readonly #keyPem: string;
  readonly #caPublicKeys: readonly KeyObject[];
  readonly #trustCache = new Map<string, boolean>();
  /** PEM renderings, made once (sameAs and every swap compare them). */
  #trustedCaPem: string | undefined;
  #chainPem: string | undefined;
  /** What outgoing connections present, when it differs from the server certificate. */
  #client: ClientIdentity | undefined;
  /**
   * The secure context of outgoing connections, built on first use. Sharing one context
   * saves every new connection from parsing the certificate, key and CAs again (a fresh
   * connection costs about half as much). A state whose outgoing material is the same as
   * another's shares that one's context (see {@link sharesOutboundWith}).
   */
  #clientContext: { ctx: tls.SecureContext | undefined } = { ctx: undefined };

  private constructor(fields: {
    cas: readonly CertEntry[];
    caPublicKeys: readonly KeyObject[];
    leaf: CertEntry;
    issuer: CertEntry;
    keyPem: string;
    accepted: ReadonlySet<string>;
    serverName: string;
  }) {
    this.#cas = fields.cas;
    this.#caPublicKeys = fields.caPublicKeys;
    this.#leaf = fields.leaf;
    this.fingerprint = fields.leaf.fingerprint;
    this.#issuer = fields.issuer;
    this.#keyPem = fields.keyPem;
    this.accepted = fields.accepted;
    this.serverName = fields.serverName;
  }

  /** A copy of this state with other accepted fingerprints and client identity. */
  #copy(accepted: ReadonlySet<string>, client: ClientIdentity | undefined): ClusterTlsState {
    const next = new ClusterTlsState({
      cas: this.#cas,
      caPublicKeys: this.#caPublicKeys,
      leaf: this.#leaf,
      issuer: this.#issuer,
      keyPem: this.#keyPem,
      accepted,
      serverName: this.serverName,
    });
    next.#trustedCaPem = this.#trustedCaPem;
    next.#chainPem = this.#chainPem;
    next.#client = client;
    return next;
  }

  /** The trusted CAs, parsed. */
  get trustedCas(): readonly x509.X509Certificate[] {
    return this.#cas.map(certOf);
  }

  /** The trusted CAs as PEM, one string per CA, in {@link trustedCas} order. */
  get trustedCaPemList(): readonly string[] {
    return this.#cas.map((ca) => certificatesToPem([ca.der]));
  }

  /** This node's certificate (the leaf it presents). */
  get certificate(): x509.X509Certificate {
    return certOf(this.#leaf);
  }

  /** The CA among {@link trustedCas} that signed {@link certificate}. */
  get issuer(): x509.X509Certificate {
    return certOf(this.#issuer);
  }

  /** Validates material and builds a state from it; see the class comment for errors. */
  static fromPem(material: ClusterTlsMaterial): ClusterTlsState {
    const cas = material.trustedCaPems.flatMap((pem) => certEntriesFromPem(pem));
    if (cas.length === 0) {
      throw new PkiError("malformed-pem", "no trusted CA certificate given");
    }
    for (const ca of cas) if (!isCa(ca)) assertIsCa(certOf(ca));
    const caPublicKeys = cas.map((ca) => ca.native.publicKey);

    const [leaf] = certEntriesFromPem(material.certPem);
    checkKeyMatches(material.keyPem, leaf!);

    const issuerIndex = cas.findIndex((ca) => isSignedBy(leaf!, ca));
    if (issuerIndex < 0) {
      throw new PkiError(
        "untrusted-certificate",
        "this node's certificate is not signed by any of the trusted CAs",
      );
    }

    const accepted = material.accepted ?? [leaf!.fingerprint];
    assertFingerprints(accepted);

    const serverName = material.serverName ?? defaultNameOf(leaf!);
    if (serverName === undefined || !hasName(leaf!, serverName)) {
      throw new PkiError(
        "malformed-certificate",
        "this node's certificate does not carry the cluster name as DNS SAN or CN",
      );
    }

    return new ClusterTlsState({
      cas,
      caPublicKeys,
      leaf: leaf!,
      issuer: cas[issuerIndex]!,
      keyPem: material.keyPem,
      accepted: new Set(accepted),
      serverName,
    });
  }

  /**
   * Does ahead of time the certificate work a later {@link fromPem} with these
   * certificates would do (parsing, the CA check, the issuer's signature, the name), so
   * that it then costs lookups. A joining node runs it on the certificates the cluster
   * presented while it waits for the enrollment reply, which carries the same ones.
   * Never throws: certificates that fail a check are simply checked again (and refused)
   * by `fromPem`.
   */
  static prepare(certs: {
    trustedCaPems: readonly string[];
    certPem: string;
    serverName?: string;
  }): void {
    try {
      const cas = certs.trustedCaPems.flatMap((pem) => certEntriesFromPem(pem));
      for (const ca of cas) isCa(ca);
      const [leaf] = certEntriesFromPem(certs.certPem);
      for (const ca of cas) if (isCa(ca) && isSignedBy(leaf!, ca)) break;
      const name = certs.serverName ?? defaultNameOf(leaf!);
      if (name !== undefined) hasName(leaf!, name);
    } catch {
      // fromPem reports it.
    }
  }

  /**
   * The same state, but outgoing connections present `certPem`/`keyPem` instead of the
   * server certificate. During a rotation a node presents the new certificate as a server
   * and keeps the previous one as a client: every member accepts the previous one until
   * the rotation finishes, including a member that has not applied the begin yet and so
   * would refuse the new one (and never learn of it). Throws PkiError like fromPem.
   */
  withClientIdentity(certPem: string, keyPem: string): ClusterTlsState {
    const [cert] = certEntriesFromPem(certPem);
    checkKeyMatches(keyPem, cert!);
    const issuer = this.#cas.find((ca) => isSignedBy(cert!, ca));
    if (!issuer) {
      throw new PkiError(
        "untrusted-certificate",
        "the client certificate is not signed by any of the trusted CAs",
      );
    }
    return this.#copy(this.accepted, {
      chainPem: certificatesToPem([cert!.der, issuer.der]),
      keyPem,
      fingerprint: cert!.fingerprint,
    });
  }

  /** Fingerprint of the certificate outgoing connections present. */
  get clientFingerprint(): string {
    return this.#client?.fingerprint ?? this.fingerprint;
  }

  /** The same material with a different accepted set (a rotation step). */
  withAccepted(accepted: readonly string[]): ClusterTlsState {
    assertFingerprints(accepted);
    return this.#copy(new Set(accepted), undefined);
  }

  /**
   * The material this state was built from, normalised. Contains the private key: for
   * persisting and replicating only, never for logs.
   */
  material(): Required<ClusterTlsMaterial> {
    return {
      trustedCaPems: [this.trustedCaPem],
      certPem: certificatesToPem([this.#leaf.der]),
      keyPem: this.#keyPem,
      accepted: [...this.accepted],
      serverName: this.serverName,
    };
  }

  /** The trusted CAs as one PEM bundle: what `GetCABundle` returns and `ca.pem` holds. */
  get trustedCaPem(): string {
    this.#trustedCaPem ??= certificatesToPem(this.#cas.map((ca) => ca.der));
    return this.#trustedCaPem;
  }

  /** What this node presents: its certificate followed by its issuing CA, PEM. */
  get chainPem(): string {
    this.#chainPem ??= certificatesToPem([this.#leaf.der, this.#issuer.der]);
    return this.#chainPem;
  }

  /**
   * True when `other` presents, trusts and accepts exactly what this state does, as a
   * server and as a client: swapping one for the other changes nothing on the wire.
   */
  sameAs(other: ClusterTlsState): boolean {
    if (other === this) return true;
    return (
      this.sameServerContextAs(other) &&
      this.serverName === other.serverName &&
      sameSet(this.accepted, other.accepted) &&
      this.#client?.chainPem === other.#client?.chainPem &&
      this.#client?.keyPem === other.#client?.keyPem
    );
  }

  /**
   * True when the server side of `other` is built from the same certificate chain, key and
   * trusted CAs as this one's: a hot reload between them needs no new secure context.
   */
  sameServerContextAs(other: ClusterTlsState): boolean {
    return (
      other === this ||
      (this.fingerprint === other.fingerprint &&
        this.#keyPem === other.#keyPem &&
        this.trustedCaPem === other.trustedCaPem &&
        this.chainPem === other.chainPem)
    );
  }

  /**
   * True when outgoing connections made with this state and with `other` present the same
   * certificate chain and key, trust the same CAs and dial the same server name: only the
   * accepted set may differ. Then a connection `other` opened was set up exactly as this
   * state would set it up, and the two can share one client secure context.
   */
  sameOutboundAs(other: ClusterTlsState): boolean {
    if (other === this) return true;
    const mine = this.#outbound();
    const theirs = other.#outbound();
    return (
      mine.chainPem === theirs.chainPem &&
      mine.keyPem === theirs.keyPem &&
      this.trustedCaPem === other.trustedCaPem &&
      this.serverName === other.serverName
    );
  }

  /**
   * Makes this state use `other`'s client secure context (built or still to be built)
   * when {@link sameOutboundAs} holds; returns whether it does.
   */
  sharesOutboundWith(other: ClusterTlsState): boolean {
    if (!this.sameOutboundAs(other)) return false;
    this.#clientContext = other.#clientContext;
    return true;
  }

  #outbound(): { chainPem: string; keyPem: string } {
    return this.#client ?? { chainPem: this.chainPem, keyPem: this.#keyPem };
  }

  /** True when a peer certificate with this fingerprint is in the accepted set. */
  isAccepted(peerFingerprint: string): boolean {
    return this.accepted.has(peerFingerprint);
  }

  /**
   * True when the DER certificate is signed by one of the trusted CAs: a real signature
   * check with each CA's public key (not issuer-name matching). Decisions are cached per
   * fingerprint, since every request of a session asks about the same peer.
   */
  isSignedByTrustedCa(der: Uint8Array): boolean {
    const fp = fingerprint(der);
    const cached = this.#trustCache.get(fp);
    if (cached !== undefined) return cached;
    let ok = false;
    try {
      const cert = new NodeX509(der);
      ok = this.#caPublicKeys.some((k) => cert.verify(k));
    } catch {
      ok = false;
    }
    if (this.#trustCache.size >= TRUST_CACHE_LIMIT) this.#trustCache.clear();
    this.#trustCache.set(fp, ok);
    return ok;
  }

  /**
   * The secure-context part of the server options: what `setSecureContext` takes on a hot
   * reload. Presents the certificate with its CA in the chain, so that a joining node can
   * find the CA its token pins; trusts only the cluster CAs for client certificates.
   */
  secureContextOptions(): tls.SecureContextOptions {
    return {
      cert: this.chainPem,
      key: this.#keyPem,
      ca: this.trustedCaPem,
      minVersion: TLS_VERSION,
      maxVersion: TLS_VERSION,
    };
  }

  /**
   * Options for the cluster-port server: TLS 1.3 only, asks every client for a
   * certificate, ALPN h2. `rejectUnauthorized` is false on purpose: a client without a
   * certificate must reach `Enroll` and `GetCABundle`, and everyone else must get a gRPC
   * status (`unauthenticated`) from the gate rather than an opaque handshake failure.
   * OpenSSL still verifies whatever certificate the client sends against `ca`; the gate
   * reads the verdict from `socket.authorized`.
   */
  serverOptions(): tls.TlsOptions {
    return {
      ...this.secureContextOptions(),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: [CLUSTER_ALPN],
    };
  }

  /**
   * Options for dialling a peer: present the cluster certificate, trust only the cluster
   * CAs, use the cluster name as SNI and for the hostname check, and refuse a server whose
   * leaf is not in the accepted set (an evicted node still holds a CA-signed certificate).
   */
  clientOptions(): tls.ConnectionOptions {
    const contextOptions = this.#clientContextOptions(this.#outbound());
    this.#clientContext.ctx ??= clientContextFor(contextOptions);
    return {
      ...contextOptions,
      // Node uses this context and ignores the PEM fields above, which stay for readers.
      secureContext: this.#clientContext.ctx,
      servername: this.serverName,
      rejectUnauthorized: true,
      ALPNProtocols: [CLUSTER_ALPN],
      checkServerIdentity: (host, cert) => this.checkServerIdentity(host, cert),
    };
  }

  #clientContextOptions(outbound: { chainPem: string; keyPem: string }): tls.SecureContextOptions {
    return { ...this.secureContextOptions(), cert: outbound.chainPem, key: outbound.keyPem };
  }

  /**
   * Builds now, for later, the secure context of outgoing connections that present this
   * state's server certificate. During a rotation a node dials with the previous
   * certificate; at the finish it switches to the one it serves, and the switch then finds
   * the context ready instead of building it while the cluster waits.
   */
  prepareFinishClientContext(): void {
    clientContextFor(this.#clientContextOptions({ chainPem: this.chainPem, keyPem: this.#keyPem }));
  }

  /**
   * The server check of outgoing connections: the certificate carries the cluster name,
   * and its fingerprint is in this state's accepted set (an evicted node still holds a
   * CA-signed certificate). Undefined when the server passes, else the error.
   */
  checkServerIdentity(host: string, cert: tls.PeerCertificate): Error | undefined {
    const err = defaultCheckServerIdentity(host, cert);
    if (err !== undefined) return err;
    const fp = fingerprint(new Uint8Array(cert.raw));
    if (!this.accepted.has(fp)) {
      const e = new Error(
        `peer certificate ${fp} is signed by a trusted CA but is not in the accepted set`,
      ) as Error & { code: string };
      e.code = "ERR_GASTROLOG_PEER_NOT_ACCEPTED";
      return e;
    }
    return undefined;
  }
}

function assertFingerprints(accepted: readonly string[]): void {
  for (const fp of accepted) {
    if (!isFingerprint(fp)) {
      throw new PkiError(
        "bad-fingerprint",
        "accepted fingerprints must be 64 lowercase hex characters (SHA-256 of the DER)",
      );
    }
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function nameOf(cert: x509.X509Certificate): string | undefined {
  const san = cert.getExtension(loadX509().SubjectAlternativeNameExtension);
  const dns = san?.names.items.find((n) => n.type === "dns")?.value;
  return dns ?? cert.subjectName.getField("CN")[0];
}
