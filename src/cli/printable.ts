/**
 * Text from outside (a subscription's label or user agent from an import or the receiver, a
 * category description, a push service's error) made safe for a terminal: C0 and C1 control
 * characters, DEL and the bidirectional overrides are shown as \xNN / \uNNNN escapes instead of
 * reaching the operator's terminal raw (ESC [ ... could move the cursor, retitle the window or
 * hide text). Only human output goes through here; --json keeps the data exact.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0x0a && options.keepNewlines) return c;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** printable() for optional values; null and undefined become ''. */
export function printableOr(text: string | null | undefined, fallback = ''): string {
  return text === null || text === undefined ? fallback : printable(text);
}
