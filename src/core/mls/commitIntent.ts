// What a commit of ours was meant to do (docs/protocol.md §3.3), and how it is saved with a
// pending commit, so that after a lost race or a restart it can be committed again.
import { MlsError } from './errors';
import { decodeRecord, encodeRecord } from './record';

/** §3.3: what a commit of ours was meant to do, kept so that it can be retried after a lost race. */
export type CommitIntent =
  | { readonly kind: 'add'; readonly keyPackages: readonly Uint8Array[] }
  | { readonly kind: 'remove'; readonly identityKeys: readonly Uint8Array[] }
  /** §3.5: sets the roster to the listed admins who are members, plus these; with none, just drops those who left. */
  | { readonly kind: 'promote'; readonly identityKeys: readonly Uint8Array[] }
  | { readonly kind: 'update' };

export function encodeIntent(intent: CommitIntent): Uint8Array {
  const fields: Record<string, Uint8Array> = { kind: Buffer.from(intent.kind, 'utf8') };
  if (intent.kind === 'add') intent.keyPackages.forEach((kp, i) => { fields[`kp${i}`] = kp; });
  if (intent.kind === 'remove' || intent.kind === 'promote') intent.identityKeys.forEach((k, i) => { fields[`id${i}`] = k; });
  return encodeRecord(fields);
}

export function decodeIntent(bytes: Uint8Array): CommitIntent {
  const record = decodeRecord(bytes, ['kind']);
  const kind = Buffer.from(record.kind).toString('utf8');
  const list = (prefix: string): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let i = 0; record[`${prefix}${i}`] !== undefined; i++) out.push(record[`${prefix}${i}`]!);
    return out;
  };
  if (kind === 'update') return { kind };
  if (kind === 'add') return { kind, keyPackages: list('kp') };
  if (kind === 'remove') return { kind, identityKeys: list('id') };
  if (kind === 'promote') return { kind, identityKeys: list('id') };
  throw new MlsError('bad_state', 'a saved pending commit of an unknown kind');
}


