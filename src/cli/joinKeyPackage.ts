// A joiner's KeyPackage while it waits to be added (docs/protocol.md §3.4 step 2, §3.8): its
// private keys are a secret kept as room keys are (secrets.json, mode 0600) under
// `smc.joining.<inviteId>`, so that a joiner restarted before its Welcome comes asks again with
// the same KeyPackage and can open the Welcome an admin made for it meanwhile.
import type { KeyPackageKeeper } from '../core/private/index';
import type { HomeStores } from './homeStores';

export const joiningSecret = (inviteId: string): string => `smc.joining.${inviteId}`;

export function keyPackageKeeper(session: HomeStores, inviteId: string): KeyPackageKeeper {
  const name = joiningSecret(inviteId);
  return {
    load: () => session.secrets.get(name),
    save: (text) => session.secrets.store(name, text),
    forget: () => session.secrets.delete(name),
  };
}
