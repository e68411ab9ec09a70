/**
 * Drives a real Firefox ESR with no internet and no driver download: `firefox-esr --headless
 * --no-remote --profile DIR` with a user.js that points its push client at a stand-in
 * (firefox-push.ts), plus Firefox's built-in WebDriver BiDi server (--remote-debugging-port 0),
 * spoken here directly over WebSocket with the `ws` package. Clicks are real pointer actions, so
 * the page sees a visitor's gesture.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const FIREFOX = process.env.PUSHCTL_TEST_FIREFOX ?? '/usr/bin/firefox-esr';

export function firefoxAvailable(): boolean {
  return fs.existsSync(FIREFOX);
}

export interface FirefoxSession {
  /** Evaluates an expression (promises awaited) in the page; returns its JSON-able value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  navigate(url: string): Promise<void>;
  /** A real pointer click on the first element matching the CSS selector. */
  click(selector: string): Promise<void>;
  /** Polls an expression in the page until it returns something other than null/undefined/false. */
  waitFor<T = unknown>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  stderr(): string;
  close(): Promise<void>;
}

/** Profile prefs: push through the stand-in, notifications allowed and shown headless, nothing else online. */
export function firefoxPrefs(pushServerUrl: string): Record<string, string | number | boolean> {
  return {
    'dom.push.serverURL': pushServerUrl,
    'dom.push.testing.allowInsecureServerURL': true,
    'dom.push.testing.ignorePermission': true,
    'dom.push.connection.enabled': true,
    'dom.push.enabled': true,
    // Reconnect quickly after the stand-in drops the connection (default 5 s, doubling).
    'dom.push.retryBaseInterval': 500,
    'dom.serviceWorkers.enabled': true,
    'dom.serviceWorkers.testing.enabled': true,
    'alerts.useSystemBackend': false,
    // Allow notifications without a prompt: the test is the visitor who said yes.
    'permissions.default.desktop-notification': 1,
    'browser.shell.checkDefaultBrowser': false,
    'browser.startup.homepage_override.mstone': 'ignore',
    'datareporting.policy.dataSubmissionEnabled': false,
    'toolkit.telemetry.reportingpolicy.firstRun': false,
    'app.update.disabledForTesting': true,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'browser.safebrowsing.malware.enabled': false,
    'browser.safebrowsing.phishing.enabled': false,
    'extensions.update.enabled': false,
    'services.settings.server': 'http://127.0.0.1:1/',
  };
}

export async function launchFirefox(options: {
  pushServerUrl: string;
  url?: string;
  timeoutMs?: number;
  /** More prefs (e.g. intl.accept_languages) and environment (e.g. TZ) for this browser. */
  prefs?: Record<string, string | number | boolean>;
  env?: Record<string, string>;
}): Promise<FirefoxSession> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-firefox-'));
  const prefs = Object.entries({ ...firefoxPrefs(options.pushServerUrl), ...options.prefs })
    .map(([key, value]) => `user_pref(${JSON.stringify(key)}, ${JSON.stringify(value)});`)
    .join('\n');
  fs.writeFileSync(path.join(profile, 'user.js'), prefs + '\n');

  const child: ChildProcess = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0', options.url ?? 'about:blank'], {
    env: { ...process.env, MOZ_HEADLESS: '1', MOZ_CRASHREPORTER_DISABLE: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const bidiUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Firefox did not start its BiDi server within ${options.timeoutMs ?? 60_000} ms:\n${stderr.slice(-2000)}`)), options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Firefox exited with ${code} before its BiDi server started:\n${stderr.slice(-2000)}`));
    });
  });

  const ws = new WebSocket(`${bidiUrl}/session`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  ws.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { id?: number; type?: string; result?: unknown; error?: string; message?: string };
    if (message.id === undefined) return; // events
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.type === 'error') waiter.reject(new Error(`BiDi ${message.error}: ${message.message}`));
    else waiter.resolve(message.result);
  });
  const command = <T>(method: string, params: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });

  await command('session.new', { capabilities: {} });
  const tree = await command<{ contexts: { context: string }[] }>('browsingContext.getTree', {});
  const context = tree.contexts[0]!.context;

  type RemoteValue = { type: string; value?: unknown; sharedId?: string };
  const evaluateRaw = async (expression: string): Promise<RemoteValue> => {
    const result = await command<{ type: string; result?: RemoteValue; exceptionDetails?: { text: string } }>('script.evaluate', {
      expression,
      target: { context },
      awaitPromise: true,
      resultOwnership: 'none',
    });
    if (result.type === 'exception') throw new Error(`page script failed: ${result.exceptionDetails?.text ?? 'exception'} (${expression.slice(0, 120)})`);
    return result.result!;
  };

  const session: FirefoxSession = {
    async evaluate<T>(expression: string): Promise<T> {
      // JSON round trip: BiDi's remote values are verbose for objects.
      const value = await evaluateRaw(`Promise.resolve(${expression}).then((v) => JSON.stringify(v === undefined ? null : v))`);
      return JSON.parse(value.value as string) as T;
    },
    async navigate(url) {
      await command('browsingContext.navigate', { context, url, wait: 'complete' });
    },
    async click(selector) {
      const node = await evaluateRaw(`document.querySelector(${JSON.stringify(selector)})`);
      if (node.type !== 'node' || !node.sharedId) throw new Error(`no element matches ${selector}`);
      await command('input.performActions', {
        context,
        actions: [
          {
            type: 'pointer',
            id: 'mouse',
            parameters: { pointerType: 'mouse' },
            actions: [
              { type: 'pointerMove', x: 0, y: 0, origin: { type: 'element', element: { sharedId: node.sharedId } } },
              { type: 'pointerDown', button: 0 },
              { type: 'pointerUp', button: 0 },
            ],
          },
        ],
      });
    },
    async waitFor<T>(expression: string, what: string, timeoutMs = 90_000): Promise<T> {
      const until = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < until) {
        last = await session.evaluate(expression);
        if (last !== null && last !== undefined && last !== false) return last as T;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    },
    stderr: () => stderr,
    async close() {
      try {
        await Promise.race([command('browser.close', {}), new Promise((resolve) => setTimeout(resolve, 3_000))]);
      } catch {
        // already closing
      }
      ws.close();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
  return session;
}
