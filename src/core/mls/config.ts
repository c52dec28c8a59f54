// The ts-mls client configuration SMC runs with (docs/protocol.md §3.3).
import type { ClientConfig } from 'ts-mls' with { 'resolution-mode': 'import' };
import { smcAuthenticationService } from './credential';
import type { TsMls } from './library';

/** KeyPackages live a week at most (§3.4): long enough for an admin to come online. */
export const KEY_PACKAGE_LIFETIME_SECONDS = 7 * 24 * 3600;

export function smcClientConfig(lib: TsMls): ClientConfig {
  return {
    // §3.3: messages are applied in seq order, one epoch after another, and every message at a
    // seq belongs to the epoch the group is in at that seq. No old epoch is ever needed again,
    // so none is kept: its secrets are gone as soon as the next commit is applied (forward
    // secrecy). Within an epoch, a sender's generations come in order; 10 absorb a few drops.
    keyRetentionConfig: { ...lib.defaultKeyRetentionConfig, retainKeysForEpochs: 0 },
    // The adder checks a KeyPackage's lifetime when it adds it (ts-mls does so for what it
    // sends). Receivers do not: a member added long ago whose leaf is still its KeyPackage's
    // would otherwise make every later Welcome fail to validate.
    lifetimeConfig: { maximumTotalLifetime: BigInt(KEY_PACKAGE_LIFETIME_SECONDS), validateLifetimeOnReceive: false },
    keyPackageEqualityConfig: lib.defaultKeyPackageEqualityConfig,
    // Every private message is padded to at least 256 bytes, so short texts look alike.
    paddingConfig: lib.defaultPaddingConfig,
    authService: smcAuthenticationService,
  };
}
