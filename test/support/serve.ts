/**
 * Runs `pushctl serve` (the built CLI) as a subprocess on a free port in a temp directory, with a
 * push.config.json the test chooses, and stops it with a signal the way an operator would.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startCli, tempDir, type RunResult } from './cli.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface ServeHandle {
  dir: string;
  db: string;
  /** http://127.0.0.1:PORT (no trailing slash) */
  url: string;
  child: ChildProcess;
  /** stdout so far (the access log). */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the process's result. */
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
  done: Promise<RunResult>;
}

export interface ServeOptions {
  dir?: string;
  /** push.config.json contents; written when given. */
  config?: Record<string, unknown>;
  args?: string[];
  env?: Record<string, string | undefined>;
}

/** A config with an admin token and a known subject; `extra` is merged over it (shallowly per section). */
export function serveConfig(extra: { push?: Record<string, unknown>; serve?: Record<string, unknown>; vapid?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    vapid: { subject: 'mailto:tests@example.com', ...extra.vapid },
    push: { ...extra.push },
    serve: { adminToken: ADMIN_TOKEN, rateLimit: { windowSeconds: 60, max: 10_000 }, ...extra.serve },
  };
}

export async function startServe(options: ServeOptions = {}): Promise<ServeHandle> {
  const dir = options.dir ?? tempDir('pushctl-serve-');
  if (options.config) fs.writeFileSync(path.join(dir, 'push.config.json'), JSON.stringify(options.config, null, 2));
  const { child, done } = startCli(['serve', '--port', '0', ...(options.args ?? [])], { cwd: dir, env: options.env, timeoutMs: 600_000 });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer | string) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer | string) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pushctl serve did not start:\n${stdout}\n${stderr}`)), 30_000);
    const check = () => {
      const match = /(?:listening on |"url":")(http:\/\/[^/\s"]+)\//.exec(stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void done.then((result) => {
      clearTimeout(timer);
      reject(new Error(`pushctl serve exited ${result.code} before listening:\n${result.stdout}\n${result.stderr}`));
    });
  });
  return {
    dir,
    db: path.join(dir, 'pushctl.db'),
    url,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return done;
    },
    done,
  };
}

/** fetch with a JSON body and the admin token when asked. */
export async function call(
  base: string,
  method: string,
  urlPath: string,
  options: { json?: unknown; body?: string | Buffer; headers?: Record<string, string>; admin?: boolean | string } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  if (options.admin) headers.authorization = `Bearer ${options.admin === true ? ADMIN_TOKEN : options.admin}`;
  const response = await fetch(base + urlPath, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
