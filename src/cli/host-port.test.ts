import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HostPortError, type HostPortRules, parseHostPort } from "./host-port.js";

describe("parseHostPort", () => {
  const valid: [string, HostPortRules, { host: string; port: number }][] = [
    ["127.0.0.1:4566", {}, { host: "127.0.0.1", port: 4566 }],
    [":4566", {}, { host: "", port: 4566 }],
    ["[::1]:4566", {}, { host: "::1", port: 4566 }],
    ["[fe80::1]:1", {}, { host: "fe80::1", port: 1 }],
    ["node-1.example.com:65535", {}, { host: "node-1.example.com", port: 65535 }],
    ["localhost:0", { allowPortZero: true }, { host: "localhost", port: 0 }],
    ["0.0.0.0:4566", {}, { host: "0.0.0.0", port: 4566 }],
  ];
  for (const [text, rules, want] of valid) {
    it(`reads ${text}`, () => assert.deepEqual(parseHostPort(text, rules), want));
  }

  const invalid: [string, HostPortRules, RegExp][] = [
    ["4566", {}, /no port/],
    ["host", {}, /no port/],
    ["::1:4566", {}, /brackets/],
    ["[::1]4566", {}, /expected HOST:PORT/],
    ["[nothost]:1", {}, /not an IPv6 address/],
    ["host:", {}, /port must be a number/],
    ["host:65536", {}, /port must be a number/],
    ["host:0", {}, /port must be a number/],
    ["host:-1", {}, /port must be a number/],
    ["bad_host:1", {}, /not a valid host name/],
    ["-bad:1", {}, /not a valid host name/],
    [":4566", { requireHost: true }, /host is required/],
    ["0.0.0.0:4566", { forbidUnspecified: true }, /cannot dial/],
    ["[::]:4566", { forbidUnspecified: true }, /cannot dial/],
    ["[0:0::0]:4566", { forbidUnspecified: true }, /cannot dial/],
  ];
  for (const [text, rules, message] of invalid) {
    it(`refuses ${text} ${JSON.stringify(rules)}`, () => {
      assert.throws(
        () => parseHostPort(text, rules),
        (err: unknown) => {
          assert.ok(err instanceof HostPortError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
