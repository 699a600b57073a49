import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import type { CommandInput } from "./commands.js";
import type { FsmEvent } from "./events.js";
import type { FsmResult } from "./result.js";
import { FsmDriver, fakeCert, fakeHash, richScript, T0 } from "./testing.js";

/** Every secret the rich script put into the FSM, in the forms a leak could take. */
function secretNeedles(steps: [CommandInput, number][]): string[] {
  const needles = new Set<string>(["PRIVATE KEY"]);
  const addHash = (h: Uint8Array) => {
    needles.add(Buffer.from(h).toString("hex"));
    needles.add(Buffer.from(h).toString("base64").slice(0, 40));
    needles.add(Buffer.from(h).toString("base64url").slice(0, 40));
  };
  const addKey = (pem: string) => {
    // A distinctive slice of the key's base64 body.
    needles.add(pem.split("\n")[1]!.slice(0, 40));
  };
  for (const [c] of steps) {
    if (c.kind === "initCluster") {
      addKey(c.ca.keyPem);
      addKey(c.clusterCert.keyPem);
      addHash(c.reusableTokenSecretHash);
    }
    if (c.kind === "createToken" || c.kind === "enrollNode") addHash(c.secretHash);
    if (c.kind === "beginRotation") addKey(c.cert.keyPem);
    if (c.kind === "addTrustedCa") addKey(c.ca.keyPem);
  }
  return [...needles];
}

describe("config FSM: no view leaks a secret", () => {
  it("public views, results, rejections and events never contain keys or token hashes", () => {
    const steps = richScript();
    const d = new FsmDriver();
    const events: FsmEvent[] = [];
    d.fsm.subscribe((e) => events.push(e));
    const results: FsmResult[] = [];
    for (const [cmd, at] of steps) results.push(d.run(cmd, at));
    // Rejections too: wrong hash, duplicate CA, bad rotation.
    results.push(
      d.run({
        kind: "enrollNode",
        tokenId: "tz",
        secretHash: fakeHash("wrong"),
        node: { id: "nx", name: "x", clusterAddr: "1.2.3.4:5" },
      }),
      d.run({ kind: "addTrustedCa", ca: fakeCert("ca2") }),
      d.run({ kind: "beginRotation", cert: fakeCert("cert9") }),
    );
    assert.ok(results.slice(0, steps.length).every((r) => r.ok));
    const publicText = JSON.stringify({
      cluster: d.fsm.cluster(),
      tls: d.fsm.tls(),
      tokens: d.fsm.tokens(T0),
      token: d.fsm.token("tz", T0),
      verify: d.fsm.verifyToken(fakeHash("tz"), T0),
      nodes: d.fsm.nodes(),
      kv: d.fsm.list(),
      audit: d.fsm.audit(),
      results,
      events,
    });
    for (const needle of secretNeedles(steps)) {
      assert.equal(
        publicText.includes(needle),
        false,
        `public output contains ${needle.slice(0, 12)}…`,
      );
    }
    // Sanity: the needles are real, i.e. the secret reads do carry them.
    const init = steps[0]![0] as Extract<CommandInput, { kind: "initCluster" }>;
    assert.equal(d.fsm.secrets.activeCa()!.keyPem.reveal(), init.ca.keyPem);
  });

  it("secret-bearing reads print as [redacted] through JSON, inspect and string conversion", () => {
    const d = FsmDriver.cluster();
    const m = d.fsm.secrets.tlsMaterial()!;
    const key = m.current.keyPem.reveal();
    assert.match(key, /PRIVATE KEY/);
    for (const text of [JSON.stringify(m), inspect(m, { depth: 10 }), `${m.current.keyPem}`]) {
      assert.equal(text.includes("PRIVATE KEY"), false);
      assert.ok(text.includes("[redacted]"));
    }
    assert.equal(JSON.stringify(d.fsm.secrets.activeCa()).includes("PRIVATE KEY"), false);
  });

  it("TLS material carries the previous certificate only while a rotation is in flight", () => {
    const d = FsmDriver.cluster();
    assert.equal(d.fsm.secrets.tlsMaterial()!.previous, null);
    const c2 = fakeCert("cert2");
    d.ok({ kind: "beginRotation", cert: c2 });
    const m = d.fsm.secrets.tlsMaterial()!;
    assert.equal(m.current.fingerprint, c2.fingerprint);
    assert.equal(m.current.keyPem.reveal(), c2.keyPem);
    assert.ok(m.previous);
    assert.deepEqual(m.acceptedFingerprints, d.fsm.tls()!.acceptedFingerprints);
  });
});
