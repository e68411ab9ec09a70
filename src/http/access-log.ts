/**
 * One line per request on stdout: time, method, path, status, milliseconds. Never the query
 * string, headers or body, so tokens and subscription keys cannot end up in a log file.
 */
export interface AccessEntry {
  method: string;
  path: string;
  status: number;
  ms: number;
}

export type AccessLogger = (entry: AccessEntry) => void;

export function createAccessLogger(options: { json: boolean; write?: (line: string) => void }): AccessLogger {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  return (entry) => {
    const time = new Date().toISOString();
    const path = printablePath(entry.path);
    const ms = Math.round(entry.ms * 10) / 10;
    if (options.json) write(JSON.stringify({ time, method: entry.method, path, status: entry.status, ms }));
    else write(`${time} ${entry.method} ${path} ${entry.status} ${ms}ms`);
  };
}

/** The path only, at most 200 characters, with anything unprintable percent-encoded. */
export function printablePath(rawUrl: string): string {
  const path = rawUrl.split('?')[0]!.split('#')[0]!;
  const safe = path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return safe.length > 200 ? safe.slice(0, 200) + '...' : safe;
}
