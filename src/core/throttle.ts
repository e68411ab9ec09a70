/**
 * Throttled sends (`--rate 600/min`, `rate`, push.defaultRate): never more than N deliveries
 * started per period, across every process working on the send. The ledger is paced, not the
 * process: each claim of due deliveries takes start slots from the notification's pace cursor in
 * the same transaction (store claimPaced), so any number of workers claiming at once get disjoint
 * slots, a resumed send continues from the cursor (the same rate), and a dead worker's unused
 * slots are simply lost (slower, never faster). A worker starts each delivery at its slot; one
 * that finds itself too late gives the row back for a later slot rather than bunch starts up.
 *
 * Spacing: slots are (period + slack) / N apart, and a request may leave at most slack / 4 after
 * its slot (checked just before it leaves), so any window of one period holds at most N starts,
 * with three quarters of the slack left for the jitter of the requests themselves (connection,
 * encryption, a first connection) before they reach the push service: measured at the stand-in,
 * a first request can arrive 30-60 ms later than the ones after it on a busy machine. Slack is a
 * tenth of the period, at most 200 ms: N/s runs at about 0.91 N/s (20/s: 18.2/s), 600/min at
 * 598/min, 10000/h at 9999/h.
 */
import { parseRate, type Rate } from '../delivery-policy.js';

export interface Pacing {
  rate: Rate;
  /** ms between start slots (fractional) */
  intervalMs: number;
  /** a start later than its slot by more than this gives the row back */
  lateMs: number;
  /** slots are claimed at most this far ahead */
  horizonMs: number;
}

export function pacingOf(rate: Rate): Pacing {
  const slack = Math.min(rate.periodMs / 10, 200);
  const intervalMs = (rate.periodMs + slack) / rate.count;
  return { rate, intervalMs, lateMs: slack / 4, horizonMs: Math.max(250, intervalMs) };
}

/** The stored rate of a send (null: unthrottled). */
export function pacingOfRow(row: { rate?: string | null }): Pacing | null {
  const rate = row.rate ? parseRate(row.rate, { field: 'rate' }) : null;
  return rate ? pacingOf(rate) : null;
}

/** The rate a new send stores: its own (`--rate`, `rate`; "none" for none), else push.defaultRate. */
export function rateToStore(given: string | undefined, configDefault: string | undefined): string | null {
  if (given !== undefined) return parseRate(given, { field: 'rate' })?.text ?? null;
  return parseRate(configDefault, { at: 'push.defaultRate' })?.text ?? null;
}
