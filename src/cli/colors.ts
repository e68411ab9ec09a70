/**
 * The few terminal colours pushctl uses, as plain ANSI (what chalk emits at its basic level),
 * without loading a colour library on every start-up. Off: the text unchanged.
 */
export interface Colors {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

const CODES: Record<keyof Colors, [open: number, close: number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  bold: [1, 22],
  dim: [2, 22],
};

export function colors(enabled: boolean): Colors {
  const style = ([open, close]: [number, number]) =>
    enabled ? (text: string) => `\u001b[${open}m${String(text).replaceAll(`\u001b[${close}m`, `\u001b[${close}m\u001b[${open}m`)}\u001b[${close}m` : (text: string) => String(text);
  return {
    red: style(CODES.red),
    green: style(CODES.green),
    yellow: style(CODES.yellow),
    cyan: style(CODES.cyan),
    bold: style(CODES.bold),
    dim: style(CODES.dim),
  };
}
