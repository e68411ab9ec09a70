/**
 * Which backend a `database` setting names: a postgres:// or postgresql:// URL is PostgreSQL,
 * anything else a SQLite file. Kept apart from the backends so configuration can ask without
 * loading a driver.
 */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location.trim());
}

/** The location fit to print or log: a URL loses its password (a file path is shown as is). */
export function redactLocation(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    // Unparseable: show only the scheme, never what might be a password.
    return `${location.slice(0, location.indexOf(':'))}://(unparseable URL)`;
  }
}
