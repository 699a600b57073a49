import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeClusterPki, stateOf } from "../../test/pki/fixtures.js";
import { readTlsFiles, tlsFilePaths } from "../cluster/tls/tls-files.js";
import { homePaths, type NodeIdentity, readNodeIdentity, writeJoinedHome } from "./home.js";

const identity: NodeIdentity = {
  version: 1,
  nodeId: "0123456789abcdef0123456789abcdef",
  name: "n2",
  clusterId: "11111111-2222-3333-4444-555555555555",
  clusterAddr: "127.0.0.1:4566",
  clusterBindPort: 4566,
  seedPeers: {
    "0123456789abcdef0123456789abcdef": "127.0.0.1:4566",
    fedcba9876543210fedcba9876543210: "127.0.0.1:4576",
  },
};

describe("writeJoinedHome: a joined node's TLS files and node.json", () => {
  const dirs: string[] = [];
  const home = async () => {
    const d = await mkdtemp(join(tmpdir(), "gastrolog-joined-home-"));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("writes all four files, secrets owner-only, and leaves no temporary file", async () => {
    const pki = await makeClusterPki();
    const tls = stateOf(pki);
    const paths = homePaths(await home());
    await writeJoinedHome(paths, tls, identity);
    assert.deepEqual(await readNodeIdentity(paths), identity);
    const files = await readTlsFiles(paths.home);
    assert.equal(files?.keyPem, tls.material().keyPem);
    assert.equal(files?.certPem, tls.chainPem);
    assert.equal((await stat(paths.nodeJson)).mode & 0o777, 0o600);
    assert.equal((await stat(tlsFilePaths(paths.home).clusterKey)).mode & 0o777, 0o600);
    const names = [...(await readdir(paths.home)), ...(await readdir(join(paths.home, "tls")))];
    assert.deepEqual(
      names.filter((n) => n.endsWith(".tmp")),
      [],
    );
  });

  it("puts node.json in place only after the TLS files: a TLS file that cannot be written leaves no node.json", async () => {
    const pki = await makeClusterPki();
    const paths = homePaths(await home());
    // cluster.key is a directory: the rename onto it fails, after every file was staged.
    await mkdir(join(tlsFilePaths(paths.home).clusterKey, "x"), { recursive: true });
    await assert.rejects(writeJoinedHome(paths, stateOf(pki), identity));
    await assert.rejects(readFile(paths.nodeJson), { code: "ENOENT" });
    const names = [...(await readdir(paths.home)), ...(await readdir(join(paths.home, "tls")))];
    assert.deepEqual(
      names.filter((n) => n.endsWith(".tmp")),
      [],
      "temporary files removed",
    );
  });

  it("refuses a node.json whose seed peers are not an id-to-address map", async () => {
    const paths = homePaths(await home());
    for (const seedPeers of [["127.0.0.1:4566"], { a: 4566 }, { a: "" }, "x"]) {
      await writeFile(paths.nodeJson, JSON.stringify({ ...identity, seedPeers }));
      await assert.rejects(readNodeIdentity(paths), /is not a gastrolog node identity/);
    }
  });
});
