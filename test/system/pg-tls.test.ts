// TLS to PostgreSQL with libpq's sslmode semantics (src/relay/store/pg/url.ts): against a real
// PostgreSQL with ssl on and a self-signed certificate (CN=smc-relay-test, test/helpers/tls),
// `require` encrypts without checking the certificate, `verify-ca` checks it against sslrootcert,
// `verify-full` also checks the host name (127.0.0.1 is not the certificate's name: refused), a
// certificate nobody vouches for is refused, and `disable` stays plain.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { postgresSuite } from '../helpers/postgres';
import { REPO_ROOT } from '../helpers/relayProcess';
import { Database } from '../../src/relay/store/pg/database';

const CERT = join(REPO_ROOT, 'test', 'helpers', 'tls', 'relay-test.crt');
const KEY = join(REPO_ROOT, 'test', 'helpers', 'tls', 'relay-test.key');

describe('PostgreSQL store over TLS (sslmode)', function () {
  this.timeout(60_000);
  const postgres = postgresSuite({
    files: { 'server.crt': readFileSync(CERT, 'utf8'), 'server.key': readFileSync(KEY, 'utf8') },
    settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' },
  });

  /** Opens a store's connections with `params`; resolves with whether the session is encrypted. */
  const encrypted = async (params: string): Promise<boolean> => {
    const db = new Database({ url: `${postgres.pg.url()}?${params}`, channels: [], writers: 1, readers: 1, connectTimeoutMs: 10_000 });
    postgres.closeAfter(db, (d) => d.close());
    await db.open(async () => undefined);
    const rows = await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]?.ssl === true;
  };

  it('require: encrypted, certificate not checked (libpq\'s meaning, not pg\'s verify-full)', async () => {
    assert.equal(await encrypted('sslmode=require'), true);
  });

  it('verify-ca: encrypted, the certificate checked against sslrootcert (host name not)', async () => {
    assert.equal(await encrypted(`sslmode=verify-ca&sslrootcert=${encodeURIComponent(CERT)}`), true);
  });

  it('verify-full: refused when the host name is not the certificate\'s', async () => {
    await assert.rejects(encrypted(`sslmode=verify-full&sslrootcert=${encodeURIComponent(CERT)}`), /altnames|Hostname|host/i);
  });

  it('verify-full without a root that vouches for the certificate: refused', async () => {
    await assert.rejects(encrypted('sslmode=verify-full'), /self[- ]signed|certificate/i);
  });

  it('disable: plain TCP', async () => {
    assert.equal(await encrypted('sslmode=disable'), false);
  });
});
