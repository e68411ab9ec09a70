/**
 * A real terminal for tests of interactive paths (prompts, progress bars): tmux on a private
 * socket per test process, so no one else's sessions are touched.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
// One server per test file (files may share a worker process, so the pid alone is not enough).
const socket = `pushctl-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
let serverStarted = false;

export const tmux = (...args: string[]): string => {
  if (!serverStarted) {
    // A session that outlives the tests: tmux exits when its last session ends, and a
    // new-session racing that exit fails with "server exited unexpectedly".
    execFileSync('tmux', ['-L', socket, 'new-session', '-d', '-s', 'keeper', 'sleep 3600']);
    serverStarted = true;
  }
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
};

/** Ends every session of this test process (call from afterAll). */
export function killTerminals(): void {
  if (hasTmux && serverStarted) spawnSync('tmux', ['-L', socket, 'kill-server']);
  serverStarted = false;
}

export function killSession(session: string): void {
  spawnSync('tmux', ['-L', socket, 'kill-session', '-t', session]);
}

export async function waitForScreen(session: string, pattern: RegExp, deadlineMs = 20_000): Promise<string> {
  const until = Date.now() + deadlineMs;
  let screen = '';
  while (Date.now() < until) {
    screen = tmux('capture-pane', '-p', '-J', '-t', session);
    if (pattern.test(screen)) return screen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`terminal never showed ${pattern}; it shows:\n${screen}`);
}
