/**
 * PUSHCTL_NOW: start the CLI's clock at a given instant (ISO 8601 with an offset, or epoch ms) and
 * let it run from there. For tests and rehearsals of schedules (a DST night, a late cron run)
 * without waiting for the calendar; never needed in production.
 */
import { fail } from '../errors.js';

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): { now?: () => number } {
  const text = env.PUSHCTL_NOW?.trim();
  if (!text) return {};
  const start = /^\d+$/.test(text) ? Number(text) : /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(start)) throw fail('invalid_config', `"${text}" must be an ISO 8601 time with an offset (2030-03-31T00:59:00Z) or epoch milliseconds`, { at: 'PUSHCTL_NOW' });
  const offset = start - Date.now();
  return { now: () => Date.now() + offset };
}
