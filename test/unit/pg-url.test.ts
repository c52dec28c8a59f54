// The relay's PostgreSQL URL (src/relay/store/pg/url.ts): what `--postgres` accepts, what it
// refuses with a message that says why, the password kept out of logs, and libpq's sslmode
// semantics asked of pg. Pure logic, no server.
import * as assert from 'node:assert/strict';
import { parse } from 'pg-connection-string';
import { checkPostgresUrl, libpqCompatible, redactPostgresUrl } from '../../src/relay/store/pg/url';
import { connectionConfig } from '../../src/relay/store/pg/database';

describe('PostgreSQL URL of the relay', () => {
  it('accepts libpq URLs', () => {
    for (const url of [
      'postgres://smc@db.example:5432/smc',
      'postgresql://smc:p%40ss@10.0.0.5/smc?sslmode=verify-full&sslrootcert=/etc/ca.pem',
      'postgres://smc@[::1]:5432/smc?sslmode=require',
      'postgres://smc@host/smc?sslmode=disable&application_name=relay1',
      'postgres://smc@host/smc?sslmode=verify-ca&sslrootcert=/etc/ca.pem',
    ]) assert.equal(checkPostgresUrl(url), url);
  });

  it('refuses what is not one, saying why', () => {
    assert.throws(() => checkPostgresUrl('db.example:5432'), /postgres:\/\/user@host/);
    assert.throws(() => checkPostgresUrl('mysql://x@y/z'), /postgres:\/\//);
    assert.throws(() => checkPostgresUrl('postgres://x@[bad/z'), /not a valid URL/);
    assert.throws(() => checkPostgresUrl('postgres://x@y/z?sslmode=prefer'), /prefer.*not supported/);
    assert.throws(() => checkPostgresUrl('postgres://x@y/z?sslmode=allow'), /not supported/);
    assert.throws(() => checkPostgresUrl('postgres://x@y/z?sslmode=verify-ca'), /sslrootcert/);
  });

  it('shows the URL without its password', () => {
    const shown = redactPostgresUrl('postgres://smc:s3cr%40t@db:5432/smc?sslmode=require');
    assert.ok(!shown.includes('s3cr'), shown);
    assert.match(shown, /^postgres:\/\/smc:REDACTED@db:5432\/smc\?sslmode=require$/);
    assert.equal(redactPostgresUrl('postgres://smc@db/smc'), 'postgres://smc@db/smc');
  });

  it('asks pg for libpq\'s sslmode semantics', () => {
    // require: TLS without a certificate check (libpq), not verify-full (pg's own default meaning).
    const require = parse(connectionConfig('postgres://u@h/db?sslmode=require').connectionString);
    assert.equal(typeof require.ssl, 'object');
    assert.equal((require.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized, false);
    const full = parse(connectionConfig('postgres://u@h/db?sslmode=verify-full').connectionString);
    assert.notEqual((full.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized, false);
    assert.equal(parse(connectionConfig('postgres://u@h/db?sslmode=disable').connectionString).ssl, false);
    assert.equal(libpqCompatible('postgres://u@h/db'), 'postgres://u@h/db', 'no sslmode: unchanged');
    assert.equal(libpqCompatible('postgres://u@h/db?sslmode=require&uselibpqcompat=true'), 'postgres://u@h/db?sslmode=require&uselibpqcompat=true');
  });
});
