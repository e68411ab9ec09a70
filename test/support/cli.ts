/**
 * Runs the built CLI (bin/pushctl.js) as a subprocess in a temp directory, the way an operator or
 * a cron job would: no TTY, NO_COLOR set, a clean environment apart from what the test passes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { ON_POSTGRES, postgresHandle, routeToBackend } from './backend.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/pushctl.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Flags for node itself, before the script (e.g. V8 flags an operator's service unit adds). */
  nodeArgs?: string[];
}

/** A scratch directory, removed by the returned cleanup function. */
export function tempDir(prefix = 'pushctl-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The environment a CLI run gets. With `cwd` (where it runs), on PostgreSQL its store is the
 * database standing for the SQLite file it would use (backend.ts).
 */
export function cliEnv(extra: Record<string, string | undefined> = {}, cwd?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', TZ: process.env.TZ ?? 'UTC' };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return cwd === undefined ? env : routeToBackend([], env, cwd).env;
}

/** Starts the CLI; the caller may kill it (SIGKILL tests) or await `done`. */
export function startCli(args: string[], options: RunOptions = {}): { child: ChildProcess; done: Promise<RunResult> } {
  const cwd = options.cwd ?? process.cwd();
  const routed = routeToBackend(args, cliEnv(options.env), cwd);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...routed.args], {
    cwd,
    env: routed.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function runCli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return startCli(args, options).done;
}

/** Runs with --json and parses stdout; fails loudly with stderr when the command failed. */
export async function runJson<T = unknown>(args: string[], options: RunOptions = {}): Promise<T> {
  const result = await runCli([...args, '--json'], options);
  if (result.code !== 0) throw new Error(`pushctl ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Opens the store file read-only to check what the CLI wrote (on PostgreSQL: the database standing for it). */
export function openDb(file: string): Database.Database {
  if (ON_POSTGRES) return postgresHandle(file) as unknown as Database.Database;
  return new Database(file, { readonly: true, fileMustExist: true });
}

/** Opens the store to change it behind the CLI's back (a test's setup), on either backend. */
export function openDbWritable(file: string): Database.Database {
  if (ON_POSTGRES) return postgresHandle(file) as unknown as Database.Database;
  return new Database(file);
}
