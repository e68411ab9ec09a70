/**
 * Durations as operators type them ("90s", "30m", "2h", "3d", "60d", or bare seconds), parsed by
 * the `ms` library so every flag (--ttl, --in, --older-than, --stale-after, --interval) reads alike.
 */
import ms from 'ms';
import { fail } from './errors.js';

/** Milliseconds for a duration string; bare numbers are seconds. `field` names the input in errors. */
export function parseDuration(value: string, field: string): number {
  const text = String(value).trim();
  const result = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : ms(text as ms.StringValue);
  if (typeof result !== 'number' || !Number.isFinite(result) || result < 0) {
    throw fail('invalid_input', `"${value}" is not a duration (examples: 90s, 30m, 2h, 3d, or seconds)`, { field });
  }
  return Math.round(result);
}

export function parseDurationSeconds(value: string, field: string): number {
  return Math.round(parseDuration(value, field) / 1000);
}
