// A group state as saved at rest (docs/protocol.md §3.8): ts-mls's own encoding, with the
// identity seed (which ts-mls keeps as the MLS signature key) left out and put back on reading.
import type { ClientState } from 'ts-mls' with { 'resolution-mode': 'import' };
import type { Identity } from '../crypto/identity';
import { smcClientConfig } from './config';
import { MlsError } from './errors';
import { decodeWhole } from './keyPackage';
import type { Mls } from './library';

export function writeState(mls: Mls, state: ClientState): Uint8Array {
  return mls.lib.encodeGroupState({ ...state, signaturePrivateKey: new Uint8Array(0) });
}

export function readState(mls: Mls, bytes: Uint8Array, identity: Identity): ClientState {
  const state = decodeWhole(mls.lib.decodeGroupState, bytes);
  if (state === undefined) throw new MlsError('bad_state', 'the saved group state does not read');
  return { ...state, signaturePrivateKey: new Uint8Array(identity.seed), clientConfig: smcClientConfig(mls.lib) };
}
