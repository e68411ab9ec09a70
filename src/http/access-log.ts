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

export interface AccessLogger {
  (entry: AccessEntry): void;
  /** Writes what is buffered now (on shutdown). */
  flush(): void;
}

/**
 * Lines are collected and written once per event-loop turn: under load that is one write to
 * stdout for many requests instead of one each (stdout to a pipe or file is a synchronous write).
 */
export function createAccessLogger(options: { json: boolean; write?: (text: string) => void }): AccessLogger {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!pending.length) return;
    const text = pending.join('\n') + '\n';
    pending = [];
    write(text);
  };
  const log = (entry: AccessEntry) => {
    const time = new Date().toISOString();
    const path = printablePath(entry.path);
    const ms = Math.round(entry.ms * 10) / 10;
    pending.push(options.json ? JSON.stringify({ time, method: entry.method, path, status: entry.status, ms }) : `${time} ${entry.method} ${path} ${entry.status} ${ms}ms`);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return Object.assign(log, { flush });
}

/**
 * The path only, at most 200 characters, with anything unprintable percent-encoded. An
 * absolute-form target (`GET http://evil.example/x`, refused with 400) is logged by its path too,
 * so a log reader never sees a foreign host as if pushctl had served it.
 */
export function printablePath(rawUrl: string): string {
  const target = rawUrl.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const path = target.split('?')[0]!.split('#')[0]! || '/';
  const safe = path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return safe.length > 200 ? safe.slice(0, 200) + '...' : safe;
}
