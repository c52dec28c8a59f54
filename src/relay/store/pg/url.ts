// The relay's PostgreSQL URL (`smc relay --postgres URL`, SMC_RELAY_POSTGRES; issue 9): checked
// when the options are read, so that a typo is a usage error and not a connection failure, and
// shown in logs without its password.
//
// The URL is libpq's: postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...].
// node-postgres (pg-connection-string) reads it; parameters libpq users expect and what they do
// here:
// - sslmode: disable (plain TCP), require (TLS, no certificate check, or a check against
//   sslrootcert when given, as libpq does), verify-ca (TLS, the certificate must chain to
//   sslrootcert), verify-full (verify-ca plus the host name). These are libpq's semantics: the
//   relay asks pg for them (uselibpqcompat=true). `prefer` and `allow` are refused: pg cannot
//   fall back from TLS to plain TCP as libpq does, and a relay should not silently do either.
// - sslrootcert, sslcert, sslkey: PEM files (read by pg at each connection).
// - options: `-c name=value` settings for the sessions; the relay appends its own after them
//   (database.ts), so durability settings cannot be turned off from the URL.
// - application_name, connect_timeout and the like as pg takes them.
// Without a password in the URL, PGPASSWORD applies (and a password on the command line is
// visible to every user of the machine in `ps`: prefer PGPASSWORD or SMC_RELAY_POSTGRES).
// PGHOST, PGPORT, PGUSER, PGDATABASE fill what the URL leaves out; ~/.pgpass (or PGPASSFILE) is
// read when there is no password (pg 8 does so, with a deprecation notice). PGSSLMODE is read by
// pg with its own meaning (anything but disable: TLS, certificate checked): put sslmode in the
// URL instead.

/** sslmode values accepted, with libpq's meaning. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

/** Throws an Error whose message says what is wrong with `raw`; returns it unchanged when fine. */
export function checkPostgresUrl(raw: string): string {
  const value = raw.trim();
  if (!/^postgres(ql)?:\/\//i.test(value)) {
    throw new Error('--postgres takes a URL of the form postgres://user@host:5432/dbname');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('--postgres is not a valid URL (percent-encode special characters in the user or password)');
  }
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new Error(`sslmode=${sslmode} is not supported: use one of ${SSL_MODES.join(', ')} (libpq's meanings; prefer and allow cannot be honoured)`);
  }
  if (sslmode === 'verify-ca' && url.searchParams.get('sslrootcert') === null) {
    throw new Error('sslmode=verify-ca needs sslrootcert=/path/to/ca.pem (the CA the server\'s certificate must chain to)');
  }
  return value;
}

/** The URL for logs and messages: the password replaced, nothing else changed. */
export function redactPostgresUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = 'REDACTED';
    return url.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}

/**
 * The URL as pg must read it: with sslmode given, pg is asked for libpq's semantics (without
 * uselibpqcompat, pg 8 treats require and verify-ca as verify-full).
 */
export function libpqCompatible(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.searchParams.has('sslmode') && !url.searchParams.has('uselibpqcompat')) {
      url.searchParams.set('uselibpqcompat', 'true');
      return url.toString();
    }
  } catch {
    // not a URL: pg parses it as it is
  }
  return raw;
}
