/**
 * `pushctl completion`: the bash script is loaded into a real bash and its completion function is
 * driven the way readline drives it (COMP_WORDS/COMP_CWORD), on partial command lines; category
 * names come from the store named on the command line, through the built CLI on PATH.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, skipWithout } from './support/commands.js';
import { BIN, runCli, tempDir } from './support/cli.js';

describe('pushctl completion', () => {
  let dir: string;
  let script: string;

  beforeAll(async () => {
    dir = tempDir('pushctl-completion-');
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'pushctl'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });
    // Stores first: only init, keys and serve create one.
    for (const db of ['pushctl.db', 'other.db']) expect((await runCli(['--db', db, 'keys', 'generate', '--subject', 'mailto:ops@example.com'], { cwd: dir })).code).toBe(0);
    for (const name of ['news', 'offers']) expect((await runCli(['categories', 'add', name], { cwd: dir })).code).toBe(0);
    expect((await runCli(['--db', 'other.db', 'categories', 'add', 'elsewhere'], { cwd: dir })).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'keys.json'), '{}');
    const printed = await runCli(['completion', 'bash'], { cwd: dir });
    expect(printed.code).toBe(0);
    script = path.join(dir, 'pushctl.bash');
    fs.writeFileSync(script, printed.stdout);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The completions bash offers for a command line ending where the cursor is. */
  function complete(line: string): string[] {
    const words = line.split(' ');
    const driver = `
source ${JSON.stringify(script)}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})
COMP_CWORD=${words.length - 1}
COMP_LINE=${JSON.stringify(line)}
COMP_POINT=\${#COMP_LINE}
_pushctl
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = execFileSync('bash', ['--norc', '--noprofile', '-c', driver], {
      cwd: dir,
      env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return out.split('\n').filter(Boolean).sort();
  }

  it('completes commands and subcommands, aliases included', () => {
    expect(complete('pushctl ')).toEqual(expect.arrayContaining(['init', 'keys', 'subscriptions', 'subs', 'send', 'dispatch', 'serve', 'completion']));
    expect(complete('pushctl su')).toEqual(['subs', 'subscriptions']);
    expect(complete('pushctl keys ')).toEqual(['export', 'generate', 'import', 'show']);
    expect(complete('pushctl subs im')).toEqual(['import']);
    // Option values are skipped when finding the command.
    expect(complete('pushctl -c push.config.json ke')).toEqual(['keys']);
  });

  it('completes each command\'s own flags and the global ones', () => {
    expect(complete('pushctl dispatch --watch --metrics-')).toEqual(['--metrics-host', '--metrics-port']);
    expect(complete('pushctl send --categ')).toEqual(['--category']);
    expect(complete('pushctl keys generate --')).toEqual(expect.arrayContaining(['--subject', '--force', '--help', '--db', '--config', '--json']));
    expect(complete('pushctl keys generate --')).not.toContain('--category');
  });

  it('offers category names from the store, of the database named on the line', () => {
    expect(complete('pushctl send --category ')).toEqual(['news', 'offers']);
    expect(complete('pushctl send --category o')).toEqual(['offers']);
    expect(complete('pushctl categories delete ')).toEqual(['news', 'offers']);
    expect(complete('pushctl --db other.db send --category ')).toEqual(['elsewhere']);
  });

  it('offers files where a file goes, and nothing for free values', () => {
    expect(complete('pushctl keys import k')).toEqual(['keys.json']);
    expect(complete('pushctl --config k')).toEqual(['keys.json']);
    expect(complete('pushctl dispatch --interval ')).toEqual([]);
  });

  const shellEnv = () => ({ PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, NO_COLOR: '1' });

  it.skipIf(skipWithout(hasCommand('zsh')))('zsh: the same function through bashcompinit', async () => {
    const file = path.join(dir, 'pushctl.zsh');
    fs.writeFileSync(file, (await runCli(['completion', 'zsh'], { cwd: dir })).stdout);
    // bashcompinit calls the function with ksharrays on (0-based arrays, as in bash).
    const run = (words: string[]) =>
      execFileSync('zsh', ['-f', '-c', `source ${JSON.stringify(file)}; setopt ksharrays; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pushctl; print -l "\${COMPREPLY[@]}"`], {
        cwd: dir,
        env: shellEnv(),
        encoding: 'utf8',
        timeout: 60_000,
      })
        .split('\n')
        .filter(Boolean)
        .sort();
    expect(run(['pushctl', 'keys', ''])).toEqual(['export', 'generate', 'import', 'show']);
    expect(run(['pushctl', 'send', '--category', ''])).toEqual(['news', 'offers']);
  });

  it.skipIf(skipWithout(hasCommand('fish')))('fish: complete -C on partial command lines', async () => {
    const file = path.join(dir, 'pushctl.fish');
    fs.writeFileSync(file, (await runCli(['completion', 'fish'], { cwd: dir })).stdout);
    const run = (line: string) =>
      execFileSync('fish', ['--no-config', '-c', `source ${JSON.stringify(file)}; complete -C ${JSON.stringify(line)}`], { cwd: dir, env: shellEnv(), encoding: 'utf8', timeout: 60_000 })
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0])
        .sort();
    expect(run('pushctl keys ')).toEqual(['export', 'generate', 'import', 'show']);
    expect(run('pushctl subs im')).toEqual(['import']);
    expect(run('pushctl send --category ')).toEqual(['news', 'offers']);
    expect(run('pushctl --db other.db send --category ')).toEqual(['elsewhere']);
    expect(run('pushctl dispatch --metrics')).toEqual(['--metrics-host', '--metrics-port']);
  });

  it('prints zsh and fish scripts, and refuses other shells with exit 2', async () => {
    const zsh = await runCli(['completion', 'zsh'], { cwd: dir });
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain('complete -F _pushctl pushctl');
    const fish = await runCli(['completion', 'fish'], { cwd: dir });
    expect(fish.code).toBe(0);
    expect(fish.stdout).toContain("complete -c pushctl -n '__pushctl_at \\'keys\\'' -a 'generate'");
    expect(fish.stdout).toContain("-l category -x -a '(__pushctl_categories)'");
    const other = await runCli(['completion', 'tcsh'], { cwd: dir });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('bash, zsh, fish');
  });
});
