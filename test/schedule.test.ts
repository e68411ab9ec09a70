/**
 * When notifications go out: --at/--in/--cron parsing, time zones, DST edges in Europe/Berlin and
 * America/New_York, past times, and the rule arithmetic (until/count) — first as functions, then
 * through the built CLI (with PUSHCTL_NOW to stand on a chosen night), checked in the SQLite file.
 * The expected instants are written out by hand from the zones' published DST dates (2030:
 * Berlin 31 Mar / 27 Oct, New York 10 Mar / 3 Nov), not computed by the code under test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeForCli } from '../src/cli/errors.js';
import { exitCodeFor, PushctlError } from '../src/errors.js';
import { nextOccurrence, upcomingSlots } from '../src/core/recurrence.js';
import { parseSchedule } from '../src/core/schedule.js';
import { nextCronSlot, parseDateTime, parseSince, resolveZone } from '../src/core/schedule-time.js';
import { openDb, runCli, runJson, tempDir } from './support/cli.js';

const T = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const NOW = T('2030-01-15T12:00:00Z');

/** The error a bad schedule raises (exit code 2), with its message as the CLI words it. */
function usage(fn: () => unknown): { message: string; error: PushctlError } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PushctlError);
    expect(exitCodeFor(error)).toBe(2);
    return { message: describeForCli(error as PushctlError), error: error as PushctlError };
  }
  throw new Error('expected a usage error');
}

/** Every slot of a rule from `fromIso` up to (excluding) `toIso`. */
function slots(cron: string, tz: string, fromIso: string, toIso: string): string[] {
  const out: string[] = [];
  let t = T(fromIso);
  for (;;) {
    const next = nextCronSlot(cron, tz, t);
    if (next === null || next >= T(toIso)) return out;
    out.push(iso(next));
    t = next;
  }
}

describe('--at', () => {
  it('takes ISO 8601 with an offset as an absolute instant, whatever --tz says', () => {
    expect(parseSchedule({ at: '2030-05-01T09:30:00+02:00' }, NOW).sendAt).toBe(T('2030-05-01T07:30:00Z'));
    expect(parseSchedule({ at: '2030-05-01T09:30:00Z', tz: 'America/New_York' }, NOW).sendAt).toBe(T('2030-05-01T09:30:00Z'));
    expect(parseSchedule({ at: '2030-05-01 09:30-0400' }, NOW).sendAt).toBe(T('2030-05-01T13:30:00Z'));
  });

  it('reads a local date-time in --tz, with that day\'s offset (winter and summer)', () => {
    expect(parseSchedule({ at: '2030-01-20T09:30', tz: 'Europe/Berlin' }, NOW).sendAt).toBe(T('2030-01-20T08:30:00Z'));
    expect(parseSchedule({ at: '2030-07-20T09:30', tz: 'Europe/Berlin' }, NOW).sendAt).toBe(T('2030-07-20T07:30:00Z'));
    expect(parseSchedule({ at: '2030-07-20 09:30:15', tz: 'America/New_York' }, NOW).sendAt).toBe(T('2030-07-20T13:30:15Z'));
    expect(parseSchedule({ at: '2030-01-20T09:30', tz: 'america/new_york' }, NOW).tz).toBe('America/New_York');
  });

  it('refuses a local time that does not exist (spring-forward gap), naming the flag and zone', () => {
    const berlin = usage(() => parseSchedule({ at: '2030-03-31T02:30', tz: 'Europe/Berlin' }, NOW));
    expect(berlin.message).toMatch(/--at: 2030-03-31T02:30 does not exist in Europe\/Berlin/);
    const ny = usage(() => parseSchedule({ at: '2030-03-10T02:15', tz: 'America/New_York' }, NOW));
    expect(ny.message).toMatch(/does not exist in America\/New_York/);
    // The minutes either side of the gap exist.
    expect(parseDateTime('2030-03-31T01:59', 'Europe/Berlin', '--at')).toBe(T('2030-03-31T00:59:00Z'));
    expect(parseDateTime('2030-03-31T03:00', 'Europe/Berlin', '--at')).toBe(T('2030-03-31T01:00:00Z'));
  });

  it('takes the first of a repeated local time (fall-back); an offset picks the second', () => {
    expect(parseDateTime('2030-10-27T02:30', 'Europe/Berlin', '--at')).toBe(T('2030-10-27T00:30:00Z'));
    expect(parseDateTime('2030-10-27T02:30+01:00', 'Europe/Berlin', '--at')).toBe(T('2030-10-27T01:30:00Z'));
    expect(parseDateTime('2030-11-03T01:30', 'America/New_York', '--at')).toBe(T('2030-11-03T05:30:00Z'));
    expect(parseDateTime('2030-11-03T01:30-05:00', 'America/New_York', '--at')).toBe(T('2030-11-03T06:30:00Z'));
  });

  it('refuses what is not a full date-time', () => {
    for (const text of ['tomorrow', '2030-05-01', '09:30', '2030-13-01T09:00', '2030-02-30T09:00']) {
      expect(usage(() => parseSchedule({ at: text }, NOW)).message).toMatch(/^--at: /);
    }
  });

  it('refuses a time in the past unless --now-if-past, which means now', () => {
    const err = usage(() => parseSchedule({ at: '2030-01-15T11:59:59Z' }, NOW));
    expect(err.message).toMatch(/--at: 2030-01-15T11:59:59.000Z is in the past .*--now-if-past/);
    // The core's own words name no flag: the CLI adds them (above), the HTTP API its field names.
    expect(err.error).toMatchObject({ code: 'time_in_past', field: 'sendAt' });
    expect(err.error.message).toBe('sendAt: 2030-01-15T11:59:59.000Z is in the past (now is 2030-01-15T12:00:00.000Z)');
    expect(parseSchedule({ at: '2030-01-15T11:59:59Z', nowIfPast: true }, NOW).sendAt).toBe(NOW);
    expect(parseSchedule({ at: '2030-01-15T12:00:00Z' }, NOW).sendAt).toBe(NOW);
  });
});

describe('--in', () => {
  it('adds 90s, 30m, 2h, 3d to now', () => {
    expect(parseSchedule({ in: '90s' }, NOW).sendAt).toBe(NOW + 90_000);
    expect(parseSchedule({ in: '30m' }, NOW).sendAt).toBe(NOW + 1_800_000);
    expect(parseSchedule({ in: '2h' }, NOW).sendAt).toBe(NOW + 7_200_000);
    expect(parseSchedule({ in: '3d' }, NOW).sendAt).toBe(NOW + 3 * 86_400_000);
  });

  it('refuses what is not a duration', () => {
    expect(usage(() => parseSchedule({ in: 'soon' }, NOW)).message).toMatch(/^--in: "soon" is not a duration/);
    expect(usage(() => parseSchedule({ in: '-5m' }, NOW)).message).toMatch(/^--in: /);
  });
});

describe('flag combinations and zones', () => {
  it('needs exactly one of --at, --in, --cron', () => {
    expect(usage(() => parseSchedule({}, NOW)).message).toMatch(/say when: --at TIME, --in DURATION or --cron/);
    const both = usage(() => parseSchedule({ at: '2030-05-01T09:30Z', in: '2h' }, NOW));
    expect(both.message).toBe('--in: choose one of --at, --in or --cron, not --at and --in');
    expect(both.error).toMatchObject({ code: 'invalid_request', field: 'in', message: 'in: choose one of sendAt, in or cron, not sendAt and in' });
  });

  it('gives --until and --count only to recurring schedules', () => {
    expect(usage(() => parseSchedule({ in: '2h', count: '3' }, NOW)).message).toMatch(/^--count: only a recurring/);
    expect(usage(() => parseSchedule({ in: '2h', until: '2030-02-01T00:00Z' }, NOW)).message).toMatch(/^--until: only a recurring/);
  });

  it('refuses an unknown zone with a message naming --tz', () => {
    expect(usage(() => parseSchedule({ in: '2h', tz: 'Mars/Olympus' }, NOW)).message).toMatch(/^--tz: "Mars\/Olympus" is not a time zone; use an IANA name/);
    expect(usage(() => resolveZone('+02:00')).message).toMatch(/^--tz/);
    expect(resolveZone('UTC')).toBe('UTC');
  });

  it('checks --stale-after and --count', () => {
    expect(parseSchedule({ in: '2h', staleAfter: '10m' }, NOW).staleAfterMs).toBe(600_000);
    expect(usage(() => parseSchedule({ in: '2h', staleAfter: '0s' }, NOW)).message).toMatch(/^--stale-after: must be longer than zero/);
    expect(usage(() => parseSchedule({ cron: '0 9 * * *', count: '0' }, NOW)).message).toMatch(/^--count: /);
    expect(usage(() => parseSchedule({ cron: '0 9 * * *', count: '2.5' }, NOW)).message).toMatch(/^--count: /);
  });

  it('reads --since as a duration ago or a date-time', () => {
    expect(parseSince('2h', NOW)).toBe(NOW - 7_200_000);
    expect(parseSince('2030-01-01T00:00:00Z', NOW)).toBe(T('2030-01-01T00:00:00Z'));
    expect(() => parseSince('last week', NOW)).toThrow(/^since: /);
  });
});

describe('--cron', () => {
  it('stores the rule, its zone and its first slot after now', () => {
    const s = parseSchedule({ cron: '0 9 * * 1-5', tz: 'Europe/Berlin', count: '3', staleAfter: '1h' }, NOW);
    // 2030-01-15 is a Tuesday, 12:00 UTC = 13:00 in Berlin: the next weekday 09:00 is Wednesday.
    expect(s).toEqual({ sendAt: T('2030-01-16T08:00:00Z'), cron: '0 9 * * 1-5', tz: 'Europe/Berlin', untilAt: undefined, count: 3, staleAfterMs: 3_600_000 });
  });

  it('refuses rules that are wrong or never fire, naming --cron', () => {
    expect(usage(() => parseSchedule({ cron: '61 * * * *' }, NOW)).message).toMatch(/^--cron: "61 \* \* \* \*" is not a cron rule \(.*minute/);
    expect(usage(() => parseSchedule({ cron: 'every day' }, NOW)).message).toMatch(/^--cron: /);
    expect(usage(() => parseSchedule({ cron: '0 0 30 2 *' }, NOW)).message).toMatch(/^--cron: "0 0 30 2 \*" never fires/);
  });

  it('refuses --until before the first occurrence', () => {
    expect(usage(() => parseSchedule({ cron: '0 9 * * *', tz: 'UTC', until: '2030-01-16T08:00Z' }, NOW)).message).toMatch(/^--until: .* is before the first occurrence/);
    expect(parseSchedule({ cron: '0 9 * * *', tz: 'UTC', until: '2030-01-16T09:00Z' }, NOW).untilAt).toBe(T('2030-01-16T09:00:00Z'));
  });

  it('Europe/Berlin spring forward: a daily 02:30 rule fires once, just after the jump', () => {
    expect(slots('30 2 * * *', 'Europe/Berlin', '2030-03-29T12:00Z', '2030-04-02T00:00Z')).toEqual([
      '2030-03-30T01:30:00.000Z', // 02:30 CET
      '2030-03-31T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST, once
      '2030-04-01T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin fall back: a daily 02:30 rule fires once (the first 02:30)', () => {
    expect(slots('30 2 * * *', 'Europe/Berlin', '2030-10-25T12:00Z', '2030-10-29T00:00Z')).toEqual([
      '2030-10-26T00:30:00.000Z', // CEST
      '2030-10-27T00:30:00.000Z', // first 02:30 (CEST); not again at 01:30Z (CET)
      '2030-10-28T01:30:00.000Z', // CET
    ]);
  });

  it('America/New_York spring forward: a daily 02:30 rule fires once', () => {
    expect(slots('30 2 * * *', 'America/New_York', '2030-03-08T12:00Z', '2030-03-12T00:00Z')).toEqual([
      '2030-03-09T07:30:00.000Z', // EST
      '2030-03-10T07:00:00.000Z', // 03:00 EDT, once
      '2030-03-11T06:30:00.000Z', // EDT
    ]);
  });

  it('America/New_York fall back: a daily 01:30 rule fires once', () => {
    expect(slots('30 1 * * *', 'America/New_York', '2030-11-01T12:00Z', '2030-11-05T00:00Z')).toEqual([
      '2030-11-02T05:30:00.000Z', // EDT
      '2030-11-03T05:30:00.000Z', // first 01:30 (EDT); not again at 06:30Z (EST)
      '2030-11-04T06:30:00.000Z', // EST
    ]);
  });

  it('a list of fixed hours also fires once per listed time across both edges (Vixie cron semantics)', () => {
    expect(slots('30 1,2 * * *', 'America/New_York', '2030-11-03T04:00Z', '2030-11-03T12:00Z')).toEqual(['2030-11-03T05:30:00.000Z', '2030-11-03T07:30:00.000Z']);
  });

  it('interval rules run in both repeated hours and skip the missing one', () => {
    // Every 30 minutes across New York's fall-back hour: 01:00 and 01:30 happen twice, four distinct instants.
    expect(slots('*/30 * * * *', 'America/New_York', '2030-11-03T04:45Z', '2030-11-03T07:15Z')).toEqual([
      '2030-11-03T05:00:00.000Z',
      '2030-11-03T05:30:00.000Z',
      '2030-11-03T06:00:00.000Z',
      '2030-11-03T06:30:00.000Z',
      '2030-11-03T07:00:00.000Z',
    ]);
    // Hourly across Berlin's spring gap: 01:00 CET then 03:00 CEST, one hour apart in real time.
    expect(slots('0 * * * *', 'Europe/Berlin', '2030-03-30T23:30Z', '2030-03-31T02:30Z')).toEqual(['2030-03-31T00:00:00.000Z', '2030-03-31T01:00:00.000Z', '2030-03-31T02:00:00.000Z']);
  });

  it('the next occurrence honours --until and --count', () => {
    const rule = { cron: '0 9 * * *', tz: 'UTC', untilAt: T('2030-01-18T09:00Z'), remaining: null };
    expect(upcomingSlots(rule, NOW, 10).map(iso)).toEqual(['2030-01-16T09:00:00.000Z', '2030-01-17T09:00:00.000Z', '2030-01-18T09:00:00.000Z']);
    expect(upcomingSlots({ ...rule, untilAt: null, remaining: 2 }, NOW, 10)).toHaveLength(2);
    expect(nextOccurrence({ ...rule, untilAt: null, remaining: 0 }, NOW)).toBeNull();
    expect(nextOccurrence(rule, T('2030-01-18T09:00Z'))).toBeNull();
    // A slot exactly at `after` is not "next".
    expect(nextOccurrence(rule, T('2030-01-16T09:00Z'))).toBe(T('2030-01-17T09:00Z'));
  });
});

describe('pushctl schedule (CLI)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = tempDir('pushctl-schedule-');
    await runJson(['keys', 'generate', '--subject', 'mailto:ops@example.org'], { cwd: dir });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const row = (id: number) => {
    const db = openDb(path.join(dir, 'pushctl.db'));
    try {
      return db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as Record<string, unknown>;
    } finally {
      db.close();
    }
  };

  it('stores --at in --tz as the right instant, with the zone, stale-after and status scheduled', async () => {
    const view = await runJson<{ id: number; sendAt: string; status: string; next: string[] }>(
      ['schedule', '--all', '--title', 'Sale', '--at', '2030-07-01T09:00', '--tz', 'Europe/Berlin', '--stale-after', '15m'],
      { cwd: dir, env: { PUSHCTL_NOW: '2030-06-01T00:00:00Z' } },
    );
    expect(view.sendAt).toBe('2030-07-01T07:00:00.000Z');
    expect(row(view.id)).toMatchObject({ status: 'scheduled', send_at: T('2030-07-01T07:00:00Z'), tz: 'Europe/Berlin', stale_after_ms: 900_000, cron: null, started_at: null });
  });

  it('reads a local --at in the system zone (TZ) when --tz is not given', async () => {
    const view = await runJson<{ sendAt: string }>(['schedule', '--all', '--title', 'x', '--at', '2030-07-01T09:00'], {
      cwd: dir,
      env: { TZ: 'America/New_York', PUSHCTL_NOW: '2030-06-01T00:00:00Z' },
    });
    expect(view.sendAt).toBe('2030-07-01T13:00:00.000Z');
  });

  it('stores --in from the (injected) clock', async () => {
    const view = await runJson<{ sendAt: string }>(['schedule', '--all', '--title', 'x', '--in', '90m'], { cwd: dir, env: { PUSHCTL_NOW: '2030-06-01T00:00:00Z' } });
    const due = Date.parse(view.sendAt);
    // The CLI's clock keeps running from PUSHCTL_NOW, so allow the seconds the process took to start.
    expect(due).toBeGreaterThanOrEqual(T('2030-06-01T01:30:00Z'));
    expect(due).toBeLessThan(T('2030-06-01T01:31:00Z'));
  });

  it('stores a --cron rule as a template whose first slot is DST-correct (Berlin spring-forward night)', async () => {
    const view = await runJson<{ id: number; sendAt: string; cron: string; tz: string; remaining: number; next: string[] }>(
      ['schedule', '--all', '--title', 'Daily', '--cron', '30 2 * * *', '--tz', 'Europe/Berlin', '--count', '3'],
      { cwd: dir, env: { PUSHCTL_NOW: '2030-03-30T12:00:00Z' } },
    );
    expect(view.sendAt).toBe('2030-03-31T01:00:00.000Z');
    expect(view.next).toEqual(['2030-03-31T01:00:00.000Z', '2030-04-01T00:30:00.000Z', '2030-04-02T00:30:00.000Z']);
    expect(row(view.id)).toMatchObject({ status: 'scheduled', cron: '30 2 * * *', tz: 'Europe/Berlin', remaining_count: 3, send_at: T('2030-03-31T01:00:00Z'), parent_id: null });
  });

  it('refuses past times (exit 2, naming --at) unless --now-if-past', async () => {
    const refused = await runCli(['schedule', '--all', '--title', 'x', '--at', '2030-05-31T23:00:00Z'], { cwd: dir, env: { PUSHCTL_NOW: '2030-06-01T00:00:00Z' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--at: 2030-05-31T23:00:00.000Z is in the past/);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const accepted = await runJson<{ sendAt: string }>(['schedule', '--all', '--title', 'x', '--at', '2030-05-31T23:00:00Z', '--now-if-past'], {
      cwd: dir,
      env: { PUSHCTL_NOW: '2030-06-01T00:00:00Z' },
    });
    expect(Date.parse(accepted.sendAt)).toBeGreaterThanOrEqual(T('2030-06-01T00:00:00Z'));
    expect(Date.parse(accepted.sendAt)).toBeLessThan(T('2030-06-01T00:01:00Z'));
  });

  it('refuses a nonexistent local time and an unknown zone with exit 2 and nothing stored', async () => {
    const gap = await runCli(['schedule', '--all', '--title', 'x', '--at', '2030-03-10T02:30', '--tz', 'America/New_York'], { cwd: dir });
    expect(gap.code).toBe(2);
    expect(gap.stderr).toMatch(/--at: 2030-03-10T02:30 does not exist in America\/New_York/);
    const zone = await runCli(['schedule', '--all', '--title', 'x', '--in', '1h', '--tz', 'Europe/Berlinn'], { cwd: dir });
    expect(zone.code).toBe(2);
    expect(zone.stderr).toMatch(/--tz: "Europe\/Berlinn" is not a time zone/);
    const none = await runCli(['schedule', '--all', '--title', 'x'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/say when/);
    const db = openDb(path.join(dir, 'pushctl.db'));
    try {
      expect((db.prepare('SELECT count(*) AS n FROM notifications').get() as { n: number }).n).toBe(0);
    } finally {
      db.close();
    }
  });

  it('--dry-run shows the next slots and stores nothing', async () => {
    const preview = await runJson<{ dryRun: boolean; next: string[] }>(
      ['schedule', '--all', '--title', 'x', '--cron', '30 1 * * *', '--tz', 'America/New_York', '--dry-run'],
      { cwd: dir, env: { PUSHCTL_NOW: '2030-11-02T12:00:00Z' } },
    );
    expect(preview.next.slice(0, 3)).toEqual(['2030-11-03T05:30:00.000Z', '2030-11-04T06:30:00.000Z', '2030-11-05T06:30:00.000Z']);
    const list = await runJson<unknown[]>(['notifications', 'list'], { cwd: dir });
    expect(list).toEqual([]);
  });

  it('refuses PUSHCTL_NOW without an offset', async () => {
    const result = await runCli(['schedule', '--all', '--title', 'x', '--in', '1h'], { cwd: dir, env: { PUSHCTL_NOW: '2030-06-01 00:00' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PUSHCTL_NOW/);
  });
});
