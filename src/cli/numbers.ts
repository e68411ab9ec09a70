/** Whole-number flags (--limit, --concurrency, --port, ids), parsed and bounded in one way. */
import { fail } from '../errors.js';

/**
 * `text` as a whole number from `min` to `max`, or a usage error naming `field` (a neutral name
 * the CLI shows as its flag) and the allowed range.
 */
export function wholeNumber(text: string, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (!/^\d{1,16}$/.test(trimmed) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? '0 or more' : `at least ${min}`) : `from ${min} to ${max}`;
    throw fail('invalid_request', `"${text}" must be a whole number ${range}`, { field });
  }
  return value;
}
