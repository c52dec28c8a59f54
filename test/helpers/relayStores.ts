// The stores a relay process can run on, for suites that hold for both (issue 9: the whole
// conformance suite runs once against the embedded store and once against PostgreSQL).
// `embedded` adds nothing: the relay keeps its log in its data directory. `postgres` starts one
// real PostgreSQL for the suite (test/helpers/postgres.ts, fsync on) with one database that every
// relay of the suite uses (`--postgres URL`); tests use fresh random rooms, so they share it as
// the relays of a cluster share one.
//
//   for (const store of RELAY_STORES) describe(`my suite${store.suffix}`, function () {
//     before(() => store.setUp());
//     after(() => store.tearDown());
//     ... RelayProcess.start({ args: [...store.args(), ...] })
//   });
import { PostgresServer } from './postgres';

export interface RelayStore {
  name: 'embedded' | 'postgres';
  /** Appended to the suite's title: '' for embedded, ' on PostgreSQL' for postgres. */
  suffix: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** `smc relay` arguments that select this store (after setUp). */
  args(): string[];
}

const embedded: RelayStore = {
  name: 'embedded',
  suffix: '',
  setUp: async () => undefined,
  tearDown: async () => undefined,
  args: () => [],
};

function postgres(): RelayStore {
  let server: PostgresServer | undefined;
  let url: string | undefined;
  return {
    name: 'postgres',
    suffix: ' on PostgreSQL',
    async setUp() {
      server = await PostgresServer.start();
      url = await server.createDatabase('smc_suite');
    },
    async tearDown() {
      await server?.destroy();
      server = undefined;
      url = undefined;
    },
    args() {
      if (url === undefined) throw new Error('the PostgreSQL store was not set up (call setUp in before)');
      return ['--postgres', url];
    },
  };
}

export const RELAY_STORES: readonly RelayStore[] = [embedded, postgres()];
