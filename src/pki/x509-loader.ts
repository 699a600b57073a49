/**
 * @peculiar/x509, loaded on first use.
 *
 * The library (with reflect-metadata, tsyringe and its ASN.1 schemas) costs a running
 * node about 7 MB of memory once loaded, and most of a node's life needs none of it: the
 * checks a node runs on every start and at every rotation step use Node's own X.509
 * parser (see cluster/tls/tls-state.ts). So no module imports the library at the top;
 * code that builds or reads certificate objects calls {@link loadX509} where it needs
 * them (issuing on the bootstrap node or a rotation's leader, the joining node's chain
 * check, the self-signed HTTPS certificate of a new home).
 *
 * The load is synchronous so that the PKI functions that return certificate objects stay
 * synchronous: @peculiar/x509 ships only a CommonJS build (its package has no "exports",
 * so an ESM `import` of it loads that same file), and `require` returns the one module
 * instance that `import * as x509 from "@peculiar/x509"` (src/pki/x509.ts) sees.
 *
 * reflect-metadata is loaded first, as @peculiar/x509 requires, and the library is wired
 * to Node's WebCrypto here, once.
 */
import { webcrypto } from "node:crypto";
import { createRequire } from "node:module";
import type * as X509 from "@peculiar/x509";

const require = createRequire(import.meta.url);

let loaded: typeof X509 | undefined;

/** The @peculiar/x509 module, loaded (and given Node's WebCrypto) on the first call. */
export function loadX509(): typeof X509 {
  if (loaded === undefined) {
    require("reflect-metadata");
    const x509 = require("@peculiar/x509") as typeof X509;
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    loaded = x509;
  }
  return loaded;
}

/** True once {@link loadX509} has run (for tests of the lazy loading). */
export function x509IsLoaded(): boolean {
  return loaded !== undefined;
}

/** The key algorithm of every key this project generates: ECDSA on P-256. */
export const EC_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** The signature algorithm of every certificate this project issues: ECDSA with SHA-256. */
export const EC_SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/** The WebCrypto implementation the PKI uses (Node's). */
export const subtle = webcrypto.subtle;
