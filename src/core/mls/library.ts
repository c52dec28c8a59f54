// The one place that loads ts-mls (docs/protocol.md §3.1). ts-mls is an ES module and this
// project compiles to CommonJS, so it is loaded with a dynamic import, once, and every other
// module of this folder receives it from here. Nothing outside src/core/mls/ imports ts-mls.
import type { CiphersuiteImpl } from 'ts-mls' with { 'resolution-mode': 'import' };
import { smcCryptoProvider } from './cryptoProvider';

export type TsMls = typeof import('ts-mls', { with: { 'resolution-mode': 'import' } });
/** The one internal module used: ts-mls's processMessage does not say who sent an application message. */
export type TsMlsProtection = typeof import('ts-mls/messageProtection.js', { with: { 'resolution-mode': 'import' } });

/** §3.1: the only cipher suite SMC uses (all of it exists in Node and in VS Code's Electron). */
export const CIPHER_SUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
export const CIPHER_SUITE_ID = 1;

export interface Mls {
  readonly lib: TsMls;
  readonly protection: TsMlsProtection;
  readonly suite: CiphersuiteImpl;
}

let loading: Promise<Mls> | undefined;

/** ts-mls and the implementation of suite 1 over our crypto provider, loaded once. */
export function loadMls(): Promise<Mls> {
  loading ??= (async () => {
    const lib = await import('ts-mls');
    const protection = await import('ts-mls/messageProtection.js');
    const suite = await smcCryptoProvider(lib).getCiphersuiteImpl(lib.getCiphersuiteFromName(CIPHER_SUITE_NAME));
    return { lib, protection, suite };
  })();
  return loading;
}
