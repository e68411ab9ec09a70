/**
 * docs/cli.md and the program agree: every command and subcommand of the commander program (the
 * same tree --help prints) is documented, every flag appears, and every `pushctl WORD` the page
 * mentions is a real command, so a renamed or new command cannot slip past the docs.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.js';
import { ROOT } from './support/cli.js';

const doc = fs.readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
const program = await buildProgram();

function commands(command: Command, parents: string[] = []): { path: string[]; command: Command }[] {
  return command.commands.flatMap((c) => [{ path: [...parents, c.name()], command: c }, ...commands(c, [...parents, c.name()])]);
}

/** Sections of the page: each heading with the text under it. */
const sections = doc.split(/^(?=#{1,4} )/m).map((text) => ({ heading: text.split('\n')[0]!, text }));

/** `pushctl a b` written out, or a table row `| \`b ...` under a heading that names `pushctl a`. */
function documented(commandPath: string[]): boolean {
  if (doc.includes(`pushctl ${commandPath.join(' ')}`)) return true;
  const parent = commandPath.slice(0, -1).join(' ');
  const leaf = commandPath.at(-1)!;
  return parent !== '' && sections.some((s) => s.heading.includes(`pushctl ${parent}`) && new RegExp(`^\\| \`${leaf}[\` ]`, 'm').test(s.text));
}

function mentions(flag: string): boolean {
  return new RegExp(`${flag.replace(/[-]/g, '\\-')}(?![\\w-])`).test(doc);
}

describe('docs/cli.md', () => {
  it('documents every command and subcommand', () => {
    const all = commands(program);
    expect(all.length).toBeGreaterThan(30);
    expect(all.filter((c) => !documented(c.path)).map((c) => c.path.join(' '))).toEqual([]);
  });

  it('mentions every flag, global ones included', () => {
    const missing = [
      ...program.options.map((o) => ({ where: '(global)', flag: o.long! })),
      ...commands(program).flatMap((c) => c.command.options.map((o) => ({ where: c.path.join(' '), flag: o.long! }))),
    ].filter((f) => !mentions(f.flag));
    expect(missing).toEqual([]);
  });

  it('names no command the program does not have', () => {
    const known = new Set([...program.commands.flatMap((c) => [c.name(), ...c.aliases()]), 'help']);
    const named = [...doc.matchAll(/`pushctl ([a-z][a-z-]*)/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(10);
    expect([...new Set(named.filter((name) => !known.has(name)))]).toEqual([]);
  });
});
