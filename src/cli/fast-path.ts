/**
 * The commands scripts and cron jobs run in a loop, answered without commander: when the command
 * line is exactly one of their known shapes, the action body runs straight away (same body, same
 * configuration, store and error face as through commander; see run.ts). Anything else (`--db=x`,
 * `-qv`, a repeated option, `--`, help, an unknown word) returns undefined and goes to commander.
 */
import type { GlobalOptions } from './output.js';

type Options = GlobalOptions & Record<string, string | boolean>;

/** Global flags without a value, and what commander would set for them. */
const FLAGS: Record<string, [keyof GlobalOptions, boolean]> = {
  '--json': ['json', true],
  '-q': ['quiet', true],
  '--quiet': ['quiet', true],
  '-v': ['verbose', true],
  '--verbose': ['verbose', true],
  '--no-color': ['color', false],
};

/** Global options taking a value. */
const VALUES: Record<string, keyof GlobalOptions> = { '-c': 'config', '--config': 'config', '--db': 'db' };

interface Shape {
  words: readonly string[][];
  /** The command's own options that take a value (accepted after the last word). */
  values: Record<string, string>;
  run: (options: Options) => Promise<void>;
}

const SHAPES: Shape[] = [
  {
    words: [['subscriptions', 'subs'], ['count']],
    values: { '--category': 'category' },
    run: async (options) => {
      const [{ runAction }, { countAction }] = await Promise.all([import('./run.js'), import('./commands/subscriptions-count.js')]);
      await runAction(options, countAction);
    },
  },
];

/** The fast runner for `args` (the command line without node and the script), if it has one. */
export function fastPath(args: readonly string[]): (() => Promise<void>) | undefined {
  for (const shape of SHAPES) {
    const options = parse(args, shape);
    if (options) return () => shape.run(options);
  }
  return undefined;
}

function parse(args: readonly string[], shape: Shape): Options | undefined {
  const options: Options = {};
  const set = (key: string, value: string | boolean): boolean => {
    if (key in options) return false; // repeated: commander's last-wins rules apply
    options[key] = value;
    return true;
  };
  let word = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const flag = FLAGS[arg];
    const valueKey = VALUES[arg] ?? (word === shape.words.length ? shape.values[arg] : undefined);
    if (flag) {
      if (!set(flag[0], flag[1])) return undefined;
    } else if (valueKey) {
      const value = args[++i];
      if (value === undefined || value.startsWith('-') || !set(valueKey, value)) return undefined;
    } else if (word < shape.words.length && shape.words[word]!.includes(arg)) {
      word++;
    } else {
      return undefined;
    }
  }
  return word === shape.words.length ? options : undefined;
}
