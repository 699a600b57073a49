import assert from "node:assert/strict";
import type { NetworkInterfaceInfo } from "node:os";
import { describe, test } from "node:test";
import { pickRoutableHost, restartPortProblem } from "./advertise.js";

function iface(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(":");
  return {
    address,
    netmask: v6 ? "ffff:ffff:ffff:ffff::" : "255.255.255.0",
    family: v6 ? "IPv6" : "IPv4",
    mac: "00:00:00:00:00:00",
    internal,
    cidr: null,
    ...(v6 ? { scopeid: 0 } : {}),
  } as NetworkInterfaceInfo;
}

describe("advertise address", () => {
  test("an unspecified bind advertises the first routable IPv4 address, then IPv6", () => {
    const lo = [iface("127.0.0.1", true), iface("::1", true)];
    assert.equal(
      pickRoutableHost({ lo, eth0: [iface("fe80::1"), iface("2001:db8::5"), iface("10.0.0.7")] }),
      "10.0.0.7",
    );
    assert.equal(
      pickRoutableHost({ lo, eth0: [iface("fe80::1"), iface("2001:db8::5")] }),
      "2001:db8::5",
    );
  });

  test("no routable address (loopback and link-local only) gives none: the caller asks for --advertise-addr", () => {
    assert.equal(
      pickRoutableHost({ lo: [iface("127.0.0.1", true)], eth0: [iface("fe80::1")] }),
      undefined,
    );
    assert.equal(pickRoutableHost({}), undefined);
  });

  test("a member restarting on another cluster port than it joined with is refused, with the port to use", () => {
    const rec = { clusterAddr: "10.0.0.7:5566", clusterBindPort: 5566 };
    assert.equal(restartPortProblem(rec, 5566, false), undefined);
    const why = restartPortProblem(rec, 4566, false);
    assert.match(
      why ?? "",
      /cluster port is 5566 \(the cluster dials it at 10\.0\.0\.7:5566\), not 4566/,
    );
    assert.match(why ?? "", /--cluster-addr/);
    // A port forwarded to the new one is the operator's call.
    assert.equal(restartPortProblem(rec, 4566, true), undefined);
    // Homes from before the bind port was recorded: nothing to compare.
    assert.equal(restartPortProblem({ clusterAddr: "10.0.0.7:5566" }, 4566, false), undefined);
  });
});
