/**
 * A real terminal for tests of interactive paths (prompts, progress bars): tmux on a private
 * socket per test process, so no one else's sessions are touched.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = `pushctl-test-${process.pid}`;

export const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

/** Ends every session of this test process (call from afterAll). */
export function killTerminals(): void {
  if (hasTmux) spawnSync('tmux', ['-L', socket, 'kill-server']);
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
