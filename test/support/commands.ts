/** Whether a program is installed here (tools some tests drive: systemd-analyze, zsh, fish, nginx, tmux, browsers). */
import { spawnSync } from 'node:child_process';

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Whether a test that needs `present` may be skipped: only outside CI. In CI (.ci/run installs
 * every tool) a missing tool must fail the run, so the test runs and fails on the missing program.
 */
export function skipWithout(present: boolean): boolean {
  return !present && !process.env.CI;
}
