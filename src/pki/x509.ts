/**
 * @peculiar/x509, loaded eagerly and wired to Node's WebCrypto: for callers that want the
 * library's namespace as a value (tests building certificates, tools).
 *
 * Server code does not import this module at run time: it takes the library's types from
 * here with `import type` and the library itself from `loadX509()` in ./x509-loader.ts,
 * which loads it only when a certificate object is needed. Both give the same module
 * instance, wired to the same WebCrypto provider.
 *
 * @peculiar/x509 needs the `reflect-metadata` polyfill loaded before it: imports run in
 * order, so the polyfill is evaluated first.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { loadX509 } from "./x509-loader.js";

loadX509();

export { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, subtle } from "./x509-loader.js";
export { x509 };
