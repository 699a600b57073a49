import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { GetStatusResponseSchema } from "../gen/gastrolog/v1/admin_pb.js";
import { renderStatus, statusToJson } from "./status-view.js";
import { cannedStatus, DOUBLE_FP, DOUBLE_NOW_MS } from "./testing/admin-server-double.js";

const status = () => create(GetStatusResponseSchema, cannedStatus());

/** The exact `cluster status -o json` for the canned status: the contract of issue 5. */
const EXPECTED = {
  clusterId: "cl-7f3e",
  clusterName: "gastrolog-cl-7f3e",
  nodeId: "n1",
  nodeName: "alpha",
  role: "leader",
  leaderId: "n1",
  term: 4,
  commitIndex: 120,
  appliedIndex: 119,
  members: [
    {
      id: "n1",
      name: "alpha",
      suffrage: "voter",
      clusterAddr: "127.0.0.1:4566",
      apiAddr: "127.0.0.1:4564",
      healthy: true,
      lastContactMs: 0,
      role: "leader",
      healthError: null,
      joinedAt: "2029-12-22T00:00:00.000Z",
    },
    {
      id: "n2",
      name: "beta",
      suffrage: "nonvoter",
      clusterAddr: "127.0.0.1:5566",
      apiAddr: "127.0.0.1:5564",
      healthy: true,
      lastContactMs: 42,
      role: "follower",
      healthError: null,
      joinedAt: "2029-12-29T00:00:00.000Z",
    },
    {
      id: "n3",
      name: "gamma",
      suffrage: "voter",
      clusterAddr: "127.0.0.1:6566",
      apiAddr: "127.0.0.1:6564",
      healthy: false,
      lastContactMs: -1,
      role: null,
      healthError: "connect ECONNREFUSED 127.0.0.1:6566",
      joinedAt: "2029-12-31T00:00:00.000Z",
    },
  ],
  tls: {
    caFingerprints: [DOUBLE_FP.ca],
    certFingerprint: DOUBLE_FP.cert,
    certNotAfter: "2031-01-01T00:00:00.000Z",
    certDaysLeft: 365,
    caDaysLeft: 20,
    previousCertFingerprint: null,
    serverName: "cl-7f3e.gastrolog.internal",
    cas: [
      {
        fingerprint: DOUBLE_FP.ca,
        subject: "CN=gastrolog CA cl-7f3e",
        notAfter: "2030-01-21T00:00:00.000Z",
        daysLeft: 20,
        state: "active",
      },
    ],
    rotation: {
      kind: "cert",
      newFingerprint: DOUBLE_FP.nextCert,
      begunAt: "2029-12-31T23:59:00.000Z",
      ackedBy: ["n1", "n2"],
      pending: ["n3"],
    },
  },
  notice: null,
};

describe("cluster status -o json view", () => {
  it("has exactly the contract's shape, numbers as numbers and times as ISO-8601", () => {
    // Through JSON text, as a script sees it: no bigint, no undefined survives.
    assert.deepStrictEqual(JSON.parse(JSON.stringify(statusToJson(status()))), EXPECTED);
  });

  it("gives rotation null and certNotAfter null when the node reports none (still joining)", () => {
    const s = status();
    s.tls = undefined;
    const j = statusToJson(s);
    assert.equal(j.tls.rotation, null);
    assert.equal(j.tls.certNotAfter, null);
    assert.deepEqual(j.tls.caFingerprints, []);
  });

  it("narrows suffrage to voter|nonvoter", () => {
    const s = status();
    const first = s.members[0];
    assert.ok(first);
    first.suffrage = "";
    assert.equal(statusToJson(s).members[0]?.suffrage, "nonvoter");
  });
});

describe("cluster status table view", () => {
  const text = renderStatus(status(), DOUBLE_NOW_MS);
  const lines = text.split("\n");

  it("shows health as healthy / UNHEALTHY with the reason", () => {
    const n3 = lines.find((l) => l.startsWith("n3 "));
    assert.ok(n3, text);
    assert.match(n3, /UNHEALTHY/);
    assert.match(n3, /ECONNREFUSED/);
    assert.match(lines.find((l) => l.startsWith("n2 ")) ?? "", /\bhealthy\b/);
    assert.match(text, /members\s+3 \(1 UNHEALTHY\)/);
  });

  it("aligns the members table in columns", () => {
    const header = lines.find((l) => l.startsWith("ID "));
    assert.ok(header, text);
    const rows = lines.filter((l) => /^n\d/.test(l));
    assert.equal(rows.length, 3);
    for (const col of ["NAME", "HEALTH", "CLUSTER ADDR"]) {
      const at = header.indexOf(col);
      for (const row of rows) {
        assert.notEqual(row[at - 1], undefined);
        assert.equal(row[at - 1], " ", `column ${col} misaligned in ${JSON.stringify(row)}`);
        assert.notEqual(row[at], " ", `column ${col} misaligned in ${JSON.stringify(row)}`);
      }
    }
  });

  it("marks the answering node, the leader, human units and the open rotation", () => {
    assert.match(text, /^n1\*\s+alpha\s+leader\s+voter\s+healthy\s+0ms ago/m);
    assert.match(text, /^n2\s+beta\s+follower\s+nonvoter\s+healthy\s+42ms ago/m);
    assert.match(text, /365d left/);
    assert.match(text, /20d \(EXPIRES SOON\) left/);
    assert.match(text, /cert rotation to dddddddddddd… in flight, waiting for n3/);
    assert.match(text, /rotation begun\s+1m ago/);
  });
});
