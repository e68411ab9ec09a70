/**
 * The subscribe page's files. Only the names listed here are served, read once at start-up from
 * the static directory next to this module; a request path is looked up in that table and never
 * joined onto a file-system path, so "..", encoded slashes or absolute paths cannot reach any other
 * file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Reply } from './router.js';

const FILES: Record<string, { file: string; contentType: string }> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/sw.js': { file: 'sw.js', contentType: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', contentType: 'text/css; charset=utf-8' },
};

export const STATIC_PATHS = Object.keys(FILES);

/** The page may talk only to this server; no inline script, no third-party anything. */
const PAGE_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** dist/http/static/ (src/http/static/ under vitest); `../http/` holds from the CLI bundle in dist/cjs/ too. */
export function defaultStaticDir(): string {
  return fileURLToPath(new URL('../http/static/', import.meta.url));
}

export function loadStaticFiles(dir = defaultStaticDir()): (path: string) => Reply | undefined {
  const loaded = new Map<string, Reply>();
  for (const [urlPath, { file, contentType }] of Object.entries(FILES)) {
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(dir, file));
    } catch {
      continue; // an optional file (style.css) may be absent
    }
    const headers: Record<string, string> = {
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (file === 'index.html') headers['content-security-policy'] = PAGE_POLICY;
    loaded.set(urlPath, { status: 200, raw: { body, contentType }, headers });
  }
  return (urlPath) => loaded.get(urlPath);
}
