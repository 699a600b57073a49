/**
 * Builds config-FSM command bytes from plain TypeScript values, so callers
 * (the server, the enrollment handler, tests) never touch protobuf. Encoding
 * does no semantic validation: apply is the single place that decides, the
 * same way on every replica. Numbers must be integers (BigInt conversion throws
 * a RangeError otherwise).
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConfigCertificate } from "../../gen/gastrolog/v1/config_pb.js";
import {
  ConfigCertificateSchema,
  ConfigCommandSchema,
  ConfigSuffrage,
  ConfigTokenKind,
} from "../../gen/gastrolog/v1/config_pb.js";
import type { CommandKind } from "./result.js";
import type { Suffrage } from "./views.js";

/** Who proposes, and when. `atUnixMs` is the proposer's clock: apply never reads one. */
export interface CommandEnvelope {
  readonly atUnixMs: number;
  /** "bootstrap", "system", "cli:<uid>", "node:<id>", ... (1-128 chars, recorded in the audit). */
  readonly actor: string;
  /** The proposing node, recorded in the audit trail. */
  readonly originNodeId?: string;
}

/** A certificate and key as the PKI layer produced them. */
export interface CertificateInput {
  readonly certPem: string;
  readonly keyPem: string;
  /** Optional: when given, apply checks it against the PEM. */
  readonly fingerprint?: string;
  readonly notBeforeUnixMs: number;
  readonly notAfterUnixMs: number;
  /** The signing CA's fingerprint; omit for a CA, or to mean "the active CA". */
  readonly signerFingerprint?: string;
}

/** A node's self-description. */
export interface NodeInfoInput {
  readonly id: string;
  readonly name: string;
  readonly clusterAddr: string;
  readonly apiAddr?: string;
}

/** The part of RemoveNode that rotates the reusable token. */
export interface RotateTokenInput {
  readonly newTokenId: string;
  /** SHA-256 of the new secret (32 bytes). */
  readonly newSecretHash: Uint8Array;
}

/** One command, by kind. Optional fields default as documented in config.proto. */
export type CommandInput =
  | {
      readonly kind: "initCluster";
      readonly clusterId: string;
      readonly clusterName: string;
      /** Defaults to the envelope's time. */
      readonly createdAtUnixMs?: number;
      readonly ca: CertificateInput;
      readonly clusterCert: CertificateInput;
      readonly reusableTokenId: string;
      readonly reusableTokenSecretHash: Uint8Array;
      /** The bootstrap node, recorded as a voter. */
      readonly node: NodeInfoInput;
    }
  | {
      readonly kind: "putKey";
      readonly key: string;
      /** A string is stored as its UTF-8 bytes. */
      readonly value: Uint8Array | string;
      /** 0 = must not exist; N = its mod revision must be N; omitted = unconditional. */
      readonly expectedRevision?: number;
    }
  | { readonly kind: "deleteKey"; readonly key: string; readonly expectedRevision?: number }
  | {
      readonly kind: "enrollNode";
      readonly tokenId: string;
      /** The hash the caller verified; apply checks it again against the token. */
      readonly secretHash: Uint8Array;
      readonly node: NodeInfoInput;
      /** Defaults to voter. */
      readonly suffrageAsked?: Suffrage;
      readonly sourceAddr?: string;
    }
  | {
      readonly kind: "createToken";
      readonly tokenId: string;
      readonly secretHash: Uint8Array;
      /** null/omitted = never expires. */
      readonly expiresAtUnixMs?: number | null;
      /** null/omitted = unlimited; 1 = single use. */
      readonly maxUses?: number | null;
      readonly nonvoterOnly?: boolean;
      readonly label?: string;
    }
  | { readonly kind: "revokeToken"; readonly tokenId: string }
  | ({ readonly kind: "rotateReusableToken" } & RotateTokenInput)
  | { readonly kind: "beginRotation"; readonly cert: CertificateInput }
  | { readonly kind: "ackRotation"; readonly nodeId: string; readonly fingerprint: string }
  | { readonly kind: "finishRotation"; readonly fingerprint: string; readonly force?: boolean }
  | { readonly kind: "addTrustedCa"; readonly ca: CertificateInput; readonly activate?: boolean }
  | { readonly kind: "retireCa"; readonly fingerprint: string }
  | { readonly kind: "setActiveCa"; readonly fingerprint: string }
  | {
      readonly kind: "removeNode";
      readonly nodeId: string;
      /** Allow removing the last recorded voter. */
      readonly force?: boolean;
      /** Begin a certificate rotation in the same entry. */
      readonly beginRotation?: { readonly cert: CertificateInput };
      /** Rotate the reusable token in the same entry. */
      readonly rotateReusableToken?: RotateTokenInput;
    }
  | {
      readonly kind: "updateNode";
      readonly nodeId: string;
      readonly suffrage?: Suffrage;
      readonly clusterAddr?: string;
      readonly apiAddr?: string;
      readonly name?: string;
      /** `suffrage` is the node's target from now on (an operator's promote or demote). */
      readonly setTarget?: boolean;
    }
  | {
      readonly kind: "recordAudit";
      /** e.g. "enroll.failed". [a-z][a-z0-9_.]{0,63} */
      readonly auditKind: string;
      /** Keys [a-z][a-z0-9_]{0,31}; never put a secret here. */
      readonly details?: Readonly<Record<string, string>>;
    };

function cert(c: CertificateInput): ConfigCertificate {
  return create(ConfigCertificateSchema, {
    certPem: c.certPem,
    keyPem: c.keyPem,
    fingerprint: c.fingerprint ?? "",
    notBeforeUnixMs: BigInt(c.notBeforeUnixMs),
    notAfterUnixMs: BigInt(c.notAfterUnixMs),
    signerFingerprint: c.signerFingerprint ?? "",
  });
}

function node(n: NodeInfoInput) {
  return { id: n.id, name: n.name, clusterAddr: n.clusterAddr, apiAddr: n.apiAddr ?? "" };
}

function suffrage(s: Suffrage | undefined): ConfigSuffrage {
  if (s === undefined) return ConfigSuffrage.UNSPECIFIED;
  return s === "voter" ? ConfigSuffrage.VOTER : ConfigSuffrage.NONVOTER;
}

const optBig = (n: number | undefined): bigint | undefined =>
  n === undefined ? undefined : BigInt(n);

function body(c: CommandInput) {
  switch (c.kind) {
    case "initCluster":
      return {
        case: c.kind,
        value: {
          clusterId: c.clusterId,
          clusterName: c.clusterName,
          createdAtUnixMs: BigInt(c.createdAtUnixMs ?? 0),
          ca: cert(c.ca),
          clusterCert: cert(c.clusterCert),
          reusableTokenId: c.reusableTokenId,
          reusableTokenSecretHash: c.reusableTokenSecretHash,
          node: node(c.node),
        },
      } as const;
    case "putKey":
      return {
        case: c.kind,
        value: {
          key: c.key,
          value: typeof c.value === "string" ? new TextEncoder().encode(c.value) : c.value,
          expectedRevision: optBig(c.expectedRevision),
        },
      } as const;
    case "deleteKey":
      return {
        case: c.kind,
        value: { key: c.key, expectedRevision: optBig(c.expectedRevision) },
      } as const;
    case "enrollNode":
      return {
        case: c.kind,
        value: {
          tokenId: c.tokenId,
          secretHash: c.secretHash,
          node: node(c.node),
          suffrageAsked: suffrage(c.suffrageAsked ?? "voter"),
          sourceAddr: c.sourceAddr ?? "",
        },
      } as const;
    case "createToken":
      return {
        case: c.kind,
        value: {
          tokenId: c.tokenId,
          secretHash: c.secretHash,
          kind: ConfigTokenKind.SHORT_LIVED,
          expiresAtUnixMs: BigInt(c.expiresAtUnixMs ?? 0),
          maxUses: c.maxUses ?? 0,
          nonvoterOnly: c.nonvoterOnly ?? false,
          label: c.label ?? "",
        },
      } as const;
    case "revokeToken":
      return { case: c.kind, value: { tokenId: c.tokenId } } as const;
    case "rotateReusableToken":
      return {
        case: c.kind,
        value: { newTokenId: c.newTokenId, newSecretHash: c.newSecretHash },
      } as const;
    case "beginRotation":
      return { case: c.kind, value: { cert: cert(c.cert) } } as const;
    case "ackRotation":
      return { case: c.kind, value: { nodeId: c.nodeId, fingerprint: c.fingerprint } } as const;
    case "finishRotation":
      return {
        case: c.kind,
        value: { fingerprint: c.fingerprint, force: c.force ?? false },
      } as const;
    case "addTrustedCa":
      return { case: c.kind, value: { ca: cert(c.ca), activate: c.activate ?? false } } as const;
    case "retireCa":
      return { case: c.kind, value: { fingerprint: c.fingerprint } } as const;
    case "setActiveCa":
      return { case: c.kind, value: { fingerprint: c.fingerprint } } as const;
    case "removeNode":
      return {
        case: c.kind,
        value: {
          nodeId: c.nodeId,
          force: c.force ?? false,
          beginRotation:
            c.beginRotation === undefined ? undefined : { cert: cert(c.beginRotation.cert) },
          rotateReusableToken:
            c.rotateReusableToken === undefined
              ? undefined
              : {
                  newTokenId: c.rotateReusableToken.newTokenId,
                  newSecretHash: c.rotateReusableToken.newSecretHash,
                },
        },
      } as const;
    case "updateNode":
      return {
        case: c.kind,
        value: {
          nodeId: c.nodeId,
          suffrage: suffrage(c.suffrage),
          clusterAddr: c.clusterAddr ?? "",
          apiAddr: c.apiAddr ?? "",
          name: c.name ?? "",
          setTarget: c.setTarget ?? false,
        },
      } as const;
    case "recordAudit":
      return {
        case: c.kind,
        value: {
          kind: c.auditKind,
          details: Object.entries(c.details ?? {})
            .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
            .map(([key, value]) => ({ key, value })),
        },
      } as const;
  }
}

/** Encodes one command for `raft.propose` / `apply`. */
export function encodeCommand(envelope: CommandEnvelope, command: CommandInput): Uint8Array {
  const msg = create(ConfigCommandSchema, {
    atUnixMs: BigInt(envelope.atUnixMs),
    actor: envelope.actor,
    originNodeId: envelope.originNodeId ?? "",
    kind: body(command),
  });
  return toBinary(ConfigCommandSchema, msg);
}

/**
 * The kind of an encoded command, or null if the bytes do not decode to one.
 * For logs and metrics: it reveals nothing else about the command.
 */
export function commandKindOf(data: Uint8Array): CommandKind | null {
  try {
    return fromBinary(ConfigCommandSchema, data).kind.case ?? null;
  } catch {
    return null;
  }
}
