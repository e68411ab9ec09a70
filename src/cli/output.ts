/**
 * Terminal output: human-friendly by default (colour, tables, progress on stderr when a TTY),
 * machine-readable with --json, quiet with --quiet. NO_COLOR and --no-color turn colour off.
 */
import { colors, type Colors } from './colors.js';
import { printable } from './printable.js';

export interface GlobalOptions {
  config?: string;
  db?: string;
  json?: boolean;
  color?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface Progress {
  increment(delta?: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly color: Colors;
  readonly errColor: Colors;

  constructor(options: GlobalOptions, private readonly env: NodeJS.ProcessEnv = process.env) {
    this.json = Boolean(options.json);
    this.quiet = Boolean(options.quiet);
    this.verbose = Boolean(options.verbose);
    const colorAllowed = options.color !== false && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
    this.color = colors(colorAllowed && Boolean(process.stdout.isTTY));
    this.errColor = colors(colorAllowed && Boolean(process.stderr.isTTY));
  }

  /** Prompts are allowed only when a person is at both ends. */
  get interactive(): boolean {
    return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !this.json;
  }

  /** The command's result: JSON under --json, else the human rendering. */
  result(value: unknown, human: () => string | string[] | void): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(value, null, 2) + '\n');
      return;
    }
    const text = human();
    if (text === undefined) return;
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length) process.stdout.write(lines.join('\n') + '\n');
  }

  /** One JSON value per line (streams, exports). */
  line(text: string): void {
    process.stdout.write(text + '\n');
  }

  /** Informational message on stderr; --quiet and --json silence it. */
  info(message: string): void {
    if (!this.quiet && !this.json) process.stderr.write(message + '\n');
  }

  success(message: string): void {
    this.info(this.errColor.green('✓ ') + message);
  }

  warn(message: string): void {
    if (!this.quiet) process.stderr.write(this.errColor.yellow('warning: ') + printable(message, { keepNewlines: true }) + '\n');
  }

  debug(message: string): void {
    if (this.verbose) process.stderr.write(this.errColor.dim(message) + '\n');
  }

  /** An error on stderr; with --json `{"error": {"code"?, "message", "field"?, "details"?}}`. */
  error(message: string, details?: unknown, code?: { code: string; field?: string | undefined }): void {
    if (this.json) {
      const field = code?.field ? { field: code.field } : {};
      process.stderr.write(JSON.stringify({ error: { ...(code ? { code: code.code } : {}), message, ...field, ...(details ? { details } : {}) } }) + '\n');
      return;
    }
    process.stderr.write(this.errColor.red('error: ') + printable(message, { keepNewlines: true }) + '\n');
  }

  /** A table, rendered with cli-table3 (loaded on first use). */
  async table(head: string[], rows: (string | number | null | undefined)[][]): Promise<string> {
    const { default: Table } = await import('cli-table3');
    const table = new Table({
      head: head.map((h) => this.color.bold(h)),
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))));
    return table.toString();
  }

  /** A progress bar on stderr when it is a terminal; a no-op otherwise. */
  async progress(total: number, label: string, extraFormat = ''): Promise<Progress> {
    if (!process.stderr.isTTY || this.quiet || this.json) {
      return { increment() {}, update() {}, setTotal() {}, stop() {} };
    }
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {value}/{total}${extraFormat} | {eta_formatted} left`,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 200,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return {
      increment: (delta = 1, payload) => bar.increment(delta, payload),
      update: (value, payload) => bar.update(value, payload),
      setTotal: (t) => bar.setTotal(t),
      stop: () => bar.stop(),
    };
  }
}
