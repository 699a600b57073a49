import type {
  CaInfo,
  GetStatusResponse,
  Member,
  RotationStatus,
  TlsStatus,
} from "../gen/gastrolog/v1/admin_pb.js";
import { humanizeMs } from "./duration.js";
import {
  daysLeftText,
  isoOrNull,
  num,
  relativeTime,
  shortFingerprint,
  shortTime,
} from "./format.js";
import { renderFields, renderTable } from "./table.js";

/**
 * The JSON views of status, members and TLS (`-o json`) and their tables. The JSON field
 * names are a contract for scripts (issue 5): camelCase, numbers as numbers, times as
 * ISO-8601 strings, absent things as null, never omitted.
 */

/** One member in `cluster status` / `cluster nodes` JSON. */
export interface MemberJson {
  id: string;
  name: string;
  suffrage: "voter" | "nonvoter";
  clusterAddr: string;
  apiAddr: string;
  healthy: boolean;
  /** Milliseconds since the last Raft message from it; -1 when never or unknown. */
  lastContactMs: number;
  role: string | null;
  healthError: string | null;
  joinedAt: string | null;
}

/** A rotation in flight. */
export interface RotationJson {
  kind: string;
  newFingerprint: string;
  begunAt: string | null;
  ackedBy: string[];
  pending: string[];
}

/** One trusted CA. */
export interface CaJson {
  fingerprint: string;
  subject: string;
  notAfter: string | null;
  daysLeft: number;
  state: string;
}

/** The `tls` object of `cluster status` and the whole of `cert show -o json`. */
export interface TlsJson {
  caFingerprints: string[];
  certFingerprint: string;
  certNotAfter: string | null;
  certDaysLeft: number | null;
  /** Days left of the active CA (the soonest-expiring trusted CA when none is marked active). */
  caDaysLeft: number | null;
  previousCertFingerprint: string | null;
  serverName: string | null;
  cas: CaJson[];
  rotation: RotationJson | null;
}

/** `cluster status -o json`. */
export interface StatusJson {
  clusterId: string;
  clusterName: string;
  nodeId: string;
  nodeName: string;
  role: string;
  leaderId: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: MemberJson[];
  tls: TlsJson;
  notice: string | null;
}

/** The API's suffrage string, narrowed; anything unexpected is reported as nonvoter. */
function suffrage(s: string): "voter" | "nonvoter" {
  return s === "voter" ? "voter" : "nonvoter";
}

/** A member as JSON. */
export function memberToJson(m: Member): MemberJson {
  return {
    id: m.id,
    name: m.name,
    suffrage: suffrage(m.suffrage),
    clusterAddr: m.clusterAddr,
    apiAddr: m.apiAddr,
    healthy: m.healthy,
    lastContactMs: num(m.lastContactMs),
    role: m.role || null,
    healthError: m.healthError || null,
    joinedAt: isoOrNull(m.joinedAtUnixMs),
  };
}

function rotationToJson(r: RotationStatus | undefined): RotationJson | null {
  if (r === undefined) return null;
  return {
    kind: r.kind,
    newFingerprint: r.newFingerprint,
    begunAt: isoOrNull(r.begunAtUnixMs),
    ackedBy: [...r.ackedBy],
    pending: [...r.pending],
  };
}

function caToJson(ca: CaInfo): CaJson {
  return {
    fingerprint: ca.fingerprint,
    subject: ca.subject,
    notAfter: isoOrNull(ca.notAfterUnixMs),
    daysLeft: num(ca.daysLeft),
    state: ca.state,
  };
}

function caDaysLeft(cas: readonly CaInfo[]): number | null {
  const active = cas.find((ca) => ca.state === "active");
  if (active) return num(active.daysLeft);
  if (cas.length === 0) return null;
  return Math.min(...cas.map((ca) => num(ca.daysLeft)));
}

/** TLS status as JSON; an absent message (a node still joining) gives empty values. */
export function tlsToJson(tls: TlsStatus | undefined): TlsJson {
  const cas = tls?.cas ?? [];
  const notAfter = isoOrNull(tls?.certNotAfterUnixMs ?? 0);
  return {
    caFingerprints: [...(tls?.caFingerprints ?? [])],
    certFingerprint: tls?.certFingerprint ?? "",
    certNotAfter: notAfter,
    certDaysLeft: notAfter === null ? null : num(tls?.certDaysLeft ?? 0),
    caDaysLeft: caDaysLeft(cas),
    previousCertFingerprint: tls?.previousCertFingerprint || null,
    serverName: tls?.serverName || null,
    cas: cas.map(caToJson),
    rotation: rotationToJson(tls?.rotation),
  };
}

/** `cluster status -o json`. */
export function statusToJson(s: GetStatusResponse): StatusJson {
  return {
    clusterId: s.clusterId,
    clusterName: s.clusterName,
    nodeId: s.nodeId,
    nodeName: s.nodeName,
    role: s.role,
    leaderId: s.leaderId,
    term: num(s.term),
    commitIndex: num(s.commitIndex),
    appliedIndex: num(s.appliedIndex),
    members: s.members.map(memberToJson),
    tls: tlsToJson(s.tls),
    notice: s.notice || null,
  };
}

/** "healthy", or "UNHEALTHY" in capitals so that it stands out in a column. */
export function healthText(m: Member): string {
  return m.healthy ? "healthy" : "UNHEALTHY";
}

function lastContactText(ms: bigint): string {
  const n = num(ms);
  return n < 0 ? "-" : `${humanizeMs(n)} ago`;
}

/** The members table of `cluster status` and `cluster nodes`. */
export function renderMembersTable(members: readonly Member[], selfId = "", leaderId = ""): string {
  const rows = members.map((m) => {
    return [
      m.id === selfId ? `${m.id}*` : m.id,
      m.name || "-",
      m.id === leaderId ? "leader" : m.role || "-",
      m.suffrage || "-",
      healthText(m),
      lastContactText(m.lastContactMs),
      m.clusterAddr || "-",
      m.apiAddr || "-",
      m.healthy ? "" : m.healthError,
    ];
  });
  return renderTable(
    [
      "ID",
      "NAME",
      "ROLE",
      "SUFFRAGE",
      "HEALTH",
      "LAST CONTACT",
      "CLUSTER ADDR",
      "API ADDR",
      "ERROR",
    ],
    rows,
  );
}

function rotationText(r: RotationStatus | undefined): string {
  if (r === undefined) return "none";
  const pending = r.pending.length > 0 ? `, waiting for ${r.pending.join(", ")}` : "";
  return `${r.kind} rotation to ${shortFingerprint(r.newFingerprint)} in flight${pending}`;
}

/** TLS fields for the status page and `cert show`. */
export function tlsFields(tls: TlsStatus | undefined, now: number): [string, string][] {
  if (tls === undefined) return [["tls", "none yet"]];
  const fields: [string, string][] = [
    [
      "certificate",
      `${tls.certFingerprint || "-"} (expires ${shortTime(tls.certNotAfterUnixMs)}, ${daysLeftText(tls.certDaysLeft)} left)`,
    ],
  ];
  if (tls.previousCertFingerprint) {
    fields.push(["previous certificate", `${tls.previousCertFingerprint} (still accepted)`]);
  }
  if (tls.serverName) fields.push(["server name", tls.serverName]);
  if (tls.cas.length > 0) {
    for (const ca of tls.cas) {
      fields.push([
        "CA",
        `${ca.fingerprint} (${ca.state}, expires ${shortTime(ca.notAfterUnixMs)}, ${daysLeftText(ca.daysLeft)} left)`,
      ]);
    }
  } else {
    for (const fp of tls.caFingerprints) fields.push(["CA", fp]);
  }
  fields.push(["rotation", rotationText(tls.rotation)]);
  if (tls.rotation) fields.push(["rotation begun", relativeTime(tls.rotation.begunAtUnixMs, now)]);
  return fields;
}

/** `cluster status` as a page: node and cluster summary, TLS, then the members table. */
export function renderStatus(s: GetStatusResponse, now: number): string {
  const leader = s.members.find((m) => m.id === s.leaderId);
  const unhealthy = s.members.filter((m) => !m.healthy).length;
  const fields: [string, string][] = [
    ["cluster", s.clusterName ? `${s.clusterName} (${s.clusterId})` : s.clusterId || "-"],
    ["node", `${s.nodeName || "-"} (${s.nodeId || "-"})`],
    ["role", s.role || "-"],
    ["leader", s.leaderId ? `${leader?.name ? `${leader.name} ` : ""}(${s.leaderId})` : "none"],
    ["term", String(s.term)],
    ["commit / applied", `${s.commitIndex} / ${s.appliedIndex}`],
    [
      "members",
      `${s.members.length} (${unhealthy === 0 ? "all healthy" : `${unhealthy} UNHEALTHY`})`,
    ],
    ...tlsFields(s.tls, now),
  ];
  if (s.notice) fields.push(["NOTICE", s.notice]);
  return `${renderFields(fields)}\n${renderMembersTable(s.members, s.nodeId, s.leaderId)}`;
}
