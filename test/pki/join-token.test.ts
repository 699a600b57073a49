import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  formatJoinToken,
  generateJoinToken,
  hashJoinSecret,
  JoinTokenError,
  type JoinTokenErrorCode,
  parseJoinToken,
  verifyJoinSecret,
} from "../../src/pki/join-token.js";

// Deterministic inputs: a fixed secret and CA hash, so that failures are reproducible.
const SECRET = Buffer.from(
  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  "hex",
);
const SECRET_TEXT = SECRET.toString("base64url"); // 43 chars
const HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const VALID = `${SECRET_TEXT}:${HASH}`;

interface Case {
  name: string;
  input: string;
  code: JoinTokenErrorCode;
  message: RegExp;
}

const cases: Case[] = [
  { name: "empty input", input: "", code: "empty", message: /^join token is empty$/ },
  { name: "whitespace only", input: " \n\t", code: "empty", message: /^join token is empty$/ },
  {
    name: "missing colon",
    input: `${SECRET_TEXT}${HASH}`,
    code: "missing-separator",
    message: /no ':' between the secret and the CA hash/,
  },
  {
    name: "bad secret encoding (standard base64 characters)",
    input: `${SECRET_TEXT.slice(0, 41)}+/:${HASH}`,
    code: "bad-secret-encoding",
    message: /not unpadded base64url/,
  },
  {
    name: "bad secret encoding (padding)",
    input: `${SECRET_TEXT}=:${HASH}`,
    code: "bad-secret-encoding",
    message: /not unpadded base64url/,
  },
  {
    name: "bad secret encoding (non-canonical trailing bits)",
    input: `${SECRET_TEXT.slice(0, 42)}B:${HASH}`,
    code: "bad-secret-encoding",
    message: /not canonical base64url/,
  },
  {
    name: "empty secret",
    input: `:${HASH}`,
    code: "bad-secret-encoding",
    message: /not unpadded base64url/,
  },
  {
    name: "secret too short",
    input: `${SECRET_TEXT.slice(0, 40)}:${HASH}`,
    code: "bad-secret-length",
    message: /^join token secret has 40 characters, expected 43 \(32 bytes\)$/,
  },
  {
    name: "secret too long",
    input: `${SECRET_TEXT}AAAA:${HASH}`,
    code: "bad-secret-length",
    message: /^join token secret has 47 characters, expected 43 \(32 bytes\)$/,
  },
  {
    name: "hash too short",
    input: `${SECRET_TEXT}:${HASH.slice(0, 63)}`,
    code: "bad-hash-length",
    message: /^join token CA hash has 63 characters, expected 64 hex characters \(SHA-256\)$/,
  },
  {
    name: "hash missing",
    input: `${SECRET_TEXT}:`,
    code: "bad-hash-length",
    message: /CA hash has 0 characters/,
  },
  {
    name: "hash not hex",
    input: `${SECRET_TEXT}:${HASH.slice(0, 63)}g`,
    code: "bad-hash-encoding",
    message: /^join token CA hash is not hexadecimal$/,
  },
];

describe("join token parsing", () => {
  for (const c of cases) {
    it(`refuses ${c.name} with a precise error that does not echo the secret`, () => {
      let thrown: unknown;
      try {
        parseJoinToken(c.input);
      } catch (err) {
        thrown = err;
      }
      assert.ok(thrown instanceof JoinTokenError, `expected a JoinTokenError for ${c.name}`);
      assert.equal(thrown.code, c.code);
      assert.match(thrown.message, c.message);
      // Neither the secret nor any 8-character piece of it may appear in the message.
      for (let i = 0; i + 8 <= SECRET_TEXT.length; i++) {
        const piece = SECRET_TEXT.slice(i, i + 8);
        assert.ok(!thrown.message.includes(piece), `message echoes part of the secret: ${piece}`);
        assert.ok(!String(thrown.stack).includes(piece));
      }
    });
  }

  it("parses a valid token, tolerating surrounding whitespace and an uppercase hash", () => {
    const t = parseJoinToken(`  ${SECRET_TEXT}:${HASH.toUpperCase()}\n`);
    assert.deepEqual(Buffer.from(t.secret), SECRET);
    assert.equal(t.caHash, HASH);
    assert.equal(formatJoinToken(t), VALID);
  });

  it("generates 32 random bytes as unpadded base64url, with the CA hash, that round-trip", () => {
    const a = generateJoinToken(HASH);
    const b = generateJoinToken(HASH);
    assert.match(a.token, /^[A-Za-z0-9_-]{43}:[0-9a-f]{64}$/);
    assert.equal(a.secret.length, 32);
    assert.notDeepEqual(a.secret, b.secret);
    const parsed = parseJoinToken(a.token);
    assert.deepEqual(parsed.secret, a.secret);
    assert.equal(parsed.caHash, HASH);
    assert.throws(() => generateJoinToken("nothex"), JoinTokenError);
  });
});

describe("join token secret hash", () => {
  it("stores a hash that is not the secret and verifies only the right secret", () => {
    const stored = hashJoinSecret(SECRET);
    assert.match(stored, /^[0-9a-f]{64}$/);
    assert.ok(!stored.includes(SECRET.toString("hex")));
    assert.ok(verifyJoinSecret(SECRET, stored));
    const wrong = Buffer.from(SECRET);
    wrong[31] = wrong[31]! ^ 1;
    assert.ok(!verifyJoinSecret(wrong, stored));
  });

  it("is domain-separated from a plain SHA-256 of the secret", async () => {
    const { createHash } = await import("node:crypto");
    assert.notEqual(hashJoinSecret(SECRET), createHash("sha256").update(SECRET).digest("hex"));
  });

  it("compares false, without throwing, against a malformed stored hash", () => {
    assert.equal(verifyJoinSecret(SECRET, ""), false);
    assert.equal(verifyJoinSecret(SECRET, "zz".repeat(32)), false);
    assert.equal(verifyJoinSecret(SECRET, hashJoinSecret(SECRET).slice(2)), false);
  });
});
