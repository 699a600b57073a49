import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CLUSTER_ID,
  type ClusterPki,
  makeClusterPki,
  stateOf,
} from "../../../test/pki/fixtures.js";
import { issueClusterCert } from "../../pki/certificate.js";
import { readTlsFiles, tlsFilePaths, writeTlsFiles } from "./tls-files.js";
import { ClusterTlsState } from "./tls-state.js";

describe("writing <home>/tls: only what changed", () => {
  let home: string;
  let pki: ClusterPki;
  let other: ClusterPki;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "gastrolog-tls-write-"));
    pki = await makeClusterPki();
    other = await makeClusterPki();
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const inodes = async (): Promise<number[]> => {
    const p = tlsFilePaths(home);
    return Promise.all([p.clusterKey, p.clusterPem, p.caPem].map(async (f) => (await stat(f)).ino));
  };

  it("the same material again leaves every file alone", async () => {
    await writeTlsFiles(home, stateOf(pki));
    const before = await inodes();
    await writeTlsFiles(home, ClusterTlsState.fromPem(stateOf(pki).material()));
    assert.deepEqual(await inodes(), before, "no file was replaced");
  });

  it("new material replaces the files that differ, and reads back", async () => {
    await writeTlsFiles(home, stateOf(pki));
    const [key, cert, ca] = await inodes();
    // A rotation: same CA, new certificate and key. ca.pem stays, the other two change.
    const rotated = await issueClusterCert({ ca: pki.ca, clusterId: CLUSTER_ID });
    const next = ClusterTlsState.fromPem({
      trustedCaPems: [pki.ca.certPem],
      certPem: rotated.certPem,
      keyPem: rotated.keyPem,
    });
    await writeTlsFiles(home, next);
    const [key2, cert2, ca2] = await inodes();
    assert.notEqual(key2, key);
    assert.notEqual(cert2, cert);
    assert.equal(ca2, ca);
    const back = ClusterTlsState.fromPem((await readTlsFiles(home))!);
    assert.equal(back.fingerprint, rotated.fingerprint);
    assert.equal((await stat(tlsFilePaths(home).clusterKey)).mode & 0o777, 0o600);
  });

  it("a key file readable by others is rewritten owner-only, even with the same content", async () => {
    const p = tlsFilePaths(home);
    await writeTlsFiles(home, stateOf(pki));
    await chmod(p.clusterKey, 0o644);
    await writeTlsFiles(home, stateOf(pki));
    assert.equal((await stat(p.clusterKey)).mode & 0o777, 0o600);
  });

  it("a damaged file is rewritten", async () => {
    const p = tlsFilePaths(home);
    await writeTlsFiles(home, stateOf(pki));
    await writeFile(p.clusterPem, "garbage");
    await writeTlsFiles(home, stateOf(pki));
    assert.equal(await readFile(p.clusterPem, "utf8"), stateOf(pki).chainPem);
    const back = ClusterTlsState.fromPem((await readTlsFiles(home))!);
    assert.equal(back.fingerprint, pki.cert.fingerprint);
  });

  it("leaves no temporary files behind", async () => {
    await writeTlsFiles(home, stateOf(other));
    await writeTlsFiles(home, stateOf(pki));
    const names = await readdir(join(home, "tls"));
    assert.deepEqual(names.sort(), ["ca.pem", "cluster.key", "cluster.pem"]);
  });
});
