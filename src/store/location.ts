import { isPostgresUrl } from '../config-defaults.js';

/** Which backend a `database` setting names (config-defaults.ts, so configuration can ask without loading the store). */
export { isPostgresUrl };

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
