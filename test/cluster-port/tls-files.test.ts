import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readTlsFiles, tlsFilePaths, writeTlsFiles } from "../../src/cluster/tls/tls-files.js";
import { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import { certificatesFromPem } from "../../src/pki/pem.js";
import { PkiError } from "../../src/pki/pki-error.js";
import { type ClusterPki, makeClusterPki, stateOf } from "../pki/fixtures.js";

describe("TLS files under <home>/tls", () => {
  let home: string;
  let pki: ClusterPki;
  let other: ClusterPki;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), "gastrolog-tls-"));
    pki = await makeClusterPki();
    other = await makeClusterPki();
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("reads nothing from an empty home", async () => {
    assert.equal(await readTlsFiles(home), undefined);
  });

  it("writes ca.pem, cluster.pem (cert then CA) and cluster.key (0600) that read back to the same state", async () => {
    const state = stateOf(pki);
    await writeTlsFiles(home, state);
    const paths = tlsFilePaths(home);
    assert.equal((await stat(paths.clusterKey)).mode & 0o777, 0o600);
    const chain = certificatesFromPem(await readFile(paths.clusterPem, "utf8"));
    assert.equal(chain.length, 2);
    assert.equal(chain[1]!.subject, state.issuer.subject);
    const back = ClusterTlsState.fromPem((await readTlsFiles(home))!);
    assert.equal(back.fingerprint, state.fingerprint);
    assert.equal(back.trustedCaPem, state.trustedCaPem);
  });

  it("a key file that does not match the certificate is a clear error", async () => {
    await writeFile(tlsFilePaths(home).clusterKey, other.cert.keyPem, { mode: 0o600 });
    const material = (await readTlsFiles(home))!;
    assert.throws(
      () => ClusterTlsState.fromPem(material),
      (e: unknown) => e instanceof PkiError && e.code === "key-mismatch",
    );
  });
});
