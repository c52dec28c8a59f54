// The errors of our MLS interface (docs/protocol.md §3). Callers branch on `code`, never on the
// library's own error classes or messages, so that a change of library touches only this folder.

export type MlsErrorCode =
  /** Bytes that are not the MLS message, KeyPackage, Welcome or state we expected. */
  | 'malformed'
  /** A message that does not decrypt or verify for this member (another epoch, another group, tampered). */
  | 'undecryptable'
  /** A credential that is not an SMC identity bound as §3.2 says. */
  | 'bad_credential'
  /** A Welcome that is not for this KeyPackage, or that does not verify. */
  | 'bad_welcome'
  /** A commit this member refuses (invalid for MLS, or against the room's rules, §3.5). */
  | 'rejected_commit'
  /** An operation this member cannot do now (removed from the group, not a member, own leaf...). */
  | 'not_allowed'
  /** A state that does not import (damaged, another version, or another identity's). */
  | 'bad_state';

export class MlsError extends Error {
  constructor(readonly code: MlsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MlsError';
  }
}

/** Runs `f`; any exception that is not already ours becomes MlsError(code, message) with the cause kept. */
export async function asMlsError<T>(code: MlsErrorCode, message: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof MlsError) throw err;
    throw new MlsError(code, message, { cause: err });
  }
}
