/**
 * The config file's shape, in zod: validated only when a file is found (a command run without
 * one never loads zod), and exported as push.config.schema.json for editors.
 */
import { z } from 'zod';
import { adminTokenProblem, DEFAULTS, originMessage, originPattern } from './config-defaults.js';
import { housekeepingDurationProblem, parseFrequencyCap, parseQuietHours, parseRate, timeZoneProblem } from './delivery-policy.js';
import { fail, PushctlError } from './errors.js';
import { ADMIN_TOKEN_MIN_LENGTH as ADMIN_TOKEN_MIN, CONCURRENCY, MAX_TTL_SECONDS, PAYLOAD_FORMATS } from './limits.js';
import { validateSubject } from './push/vapid-subject.js';

/** A subject that push services accept; the message is validateSubject's, minus its "source: " prefix. */
const subjectSchema = z.string().superRefine((value, ctx) => {
  try {
    validateSubject(value, '');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^: /, '') });
  }
});

/** The message of a parser's error, without a location (zod's issue path names the key). */
function issueFrom(check: () => unknown, ctx: z.RefinementCtx): void {
  try {
    check();
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof PushctlError ? error.describe() : (error as Error).message });
  }
}

/** A duration ("60d", "12h") of at least a day: housekeeping on a shorter horizon would delete what is still in use. */
const housekeepingDuration = z.string().superRefine((value, ctx) => {
  const problem = housekeepingDurationProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** "600/min": checked by the same parser as `send --rate`. */
const rate = z.string().superRefine((value, ctx) => issueFrom(() => parseRate(value), ctx));

/** An IANA zone name, as `--tz` takes. */
const timeZone = z.string().superRefine((value, ctx) => {
  const problem = timeZoneProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** "3/day": checked by the same parser as `categories update --cap`. */
const frequencyCap = z.string().superRefine((value, ctx) => issueFrom(() => parseFrequencyCap(value), ctx));

/** {"start": "22:00", "end": "08:00"}: checked by the same parser as `categories update --quiet-hours`. */
const quietHours = z
  .strictObject({
    start: z.string().meta({ description: 'Local time the quiet window starts, HH:MM.', examples: ['22:00'] }),
    end: z.string().meta({ description: 'Local time it ends, HH:MM (may be the next morning).', examples: ['08:00'] }),
  })
  .superRefine((value, ctx) => issueFrom(() => parseQuietHours(value), ctx));

/**
 * The config file's shape. Every key is optional; the descriptions end up in
 * push.config.schema.json (scripts/config-schema.mjs), which editors use to complete and check it.
 */
export const fileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of push.config.schema.json, for editors. Ignored by pushctl.'),
    database: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'SQLite database file, relative to this config file, or a postgres:// URL. Env: PUSHCTL_DB; flag: --db.', default: DEFAULTS.database }),
    vapid: z
      .strictObject({
        subject: subjectSchema
          .optional()
          .meta({
            description:
              'Contact that push services see in every VAPID JWT: a mailto: or https: URL, not a localhost address (Apple rejects those). Env: PUSHCTL_VAPID_SUBJECT.',
            examples: ['mailto:webmaster@example.com', 'https://example.com'],
          }),
      })
      .optional()
      .describe('VAPID (RFC 8292) settings. The keys themselves live in the database, or in PUSHCTL_VAPID_PUBLIC_KEY + PUSHCTL_VAPID_PRIVATE_KEY.'),
    push: z
      .strictObject({
        endpointOrigins: z
          .array(z.string().regex(originPattern, originMessage).transform((origin) => origin.toLowerCase()))
          .optional()
          .meta({
            description:
              'Origins that subscription endpoints may use besides the built-in push services (Google, Mozilla, Apple, Microsoft); "*." matches any subdomain. Env: PUSHCTL_ENDPOINT_ORIGINS (comma separated).',
            examples: [['http://127.0.0.1:8090', 'https://*.push.example.net']],
          }),
        defaultTtl: z
          .number()
          .int()
          .min(0)
          .max(MAX_TTL_SECONDS)
          .optional()
          .meta({ description: 'Seconds a push service keeps an undelivered message (TTL header) when a notification names none. At most 4 weeks.', default: DEFAULTS.defaultTtl }),
        concurrency: z
          .number()
          .int()
          .min(CONCURRENCY.min)
          .max(CONCURRENCY.max)
          .optional()
          .meta({ description: 'Requests in flight at once while sending one notification.', default: DEFAULTS.concurrency }),
        timeoutSeconds: z
          .number()
          .min(0.05)
          .max(600)
          .optional()
          .meta({
            description:
              'One deadline for each push request, from asking for a connection to the answer (headers and the part of the body that is kept). A request without an answer by then is retried.',
            default: DEFAULTS.timeoutSeconds,
          }),
        maxAttempts: z
          .number()
          .int()
          .min(1)
          .max(20)
          .optional()
          .meta({ description: 'Attempts per recipient (the first included) before a timeout, 429 or 5xx counts as failed.', default: DEFAULTS.maxAttempts }),
        retryDelaySeconds: z
          .number()
          .min(0)
          .max(3600)
          .optional()
          .meta({
            description: 'Wait before the first retry of a recipient; it doubles with each attempt (with jitter, at most 60 s), and a longer Retry-After from the push service wins.',
            default: DEFAULTS.retryDelaySeconds,
          }),
        payloadFormat: z
          .enum(PAYLOAD_FORMATS)
          .optional()
          .meta({
            description:
              'Payload built from --title/--body/... when a notification names no --format: "classic" (pushctl\'s JSON for its service worker) or "declarative" (Declarative Web Push, shown by Safari 18.4+ without a service worker; needs a title and an https url).',
            default: DEFAULTS.payloadFormat,
          }),
        tracking: z
          .boolean()
          .optional()
          .meta({
            description:
              'Put an unguessable per-delivery token in each built payload, so pushctl\'s service worker can report shown, clicked and dismissed to POST /events. false: no tokens, no events.',
            default: DEFAULTS.tracking,
          }),
        trackClicks: z
          .boolean()
          .optional()
          .meta({
            description: 'Make each notification\'s url <serve.publicUrl>/c/<token>, which counts the click and redirects to the real url (works without a service worker, e.g. declarative pushes). Flag: --track-clicks.',
            default: DEFAULTS.trackClicks,
          }),
        frequencyCap: frequencyCap
          .optional()
          .meta({
            description:
              'At most this many notifications per subscriber in a rolling window, e.g. "3/day" (N/hour, N/day, N/week or N/<duration>); more are skipped and counted "capped". Categories may have their own ("categories update NAME --cap"). Notifications sent with --urgent are never capped. Unset or "none": no cap.',
            examples: ['3/day'],
          }),
        quietHours: quietHours
          .optional()
          .describe(
            'No pushes in this window of each subscriber\'s local time (the zone their browser reported; the server\'s when unknown): deliveries that fall inside wait until it ends, and dispatch sends them then. Categories may have their own ("categories update NAME --quiet-hours"). --urgent notifications are never held. Unset: none.',
          ),
        defaultRate: rate
          .optional()
          .meta({
            description:
              'Throttle every send that names no --rate (or `rate`): at most N deliveries started per second, minute or hour ("N/s", "N/min", "N/h"), across all processes working on it. Unset or "none": as fast as push services take them.',
            examples: ['600/min'],
          }),
        defaultTimeZone: timeZone
          .optional()
          .meta({
            description:
              'IANA zone of subscribers whose browser reported none: where --local-time sends reach them (unless --tz says otherwise) and where their quiet hours are counted. Unset: the server\'s zone.',
            examples: ['Europe/Berlin'],
          }),
        pruneInactiveAfter: housekeepingDuration
          .optional()
          .meta({
            description:
              'Once a day "pushctl dispatch" removes subscriptions with no successful push and no shown or clicked notification for this long (counted from creation when never successful), like "subscriptions prune --inactive". At least 1d. Unset: never.',
            examples: ['60d'],
          }),
        keepHistoryFor: housekeepingDuration
          .optional()
          .meta({
            description:
              'Once a day "pushctl dispatch" drops the per-delivery rows of notifications that finished longer ago than this, keeping their counts, like "notifications prune --older-than". At least 1d. Unset: keep them.',
            examples: ['90d'],
          }),
      })
      .optional()
      .describe('Delivery through the browsers\' push services.'),
    serve: z
      .strictObject({
        host: z.string().min(1).optional().meta({ description: 'Address "pushctl serve" listens on.', default: DEFAULTS.host }),
        port: z.number().int().min(0).max(65535).optional().meta({ description: 'Port "pushctl serve" listens on (0: any free port).', default: DEFAULTS.port }),
        corsOrigins: z
          .array(z.string().min(1))
          .optional()
          .meta({ description: 'Origins of other sites whose pages may call the public subscribe API (CORS).', examples: [['https://www.example.com']] }),
        publicUrl: z
          .url({ protocol: /^https?$/, error: 'must be an http(s) URL like "https://push.example.com"' })
          .refine((value) => !/[?#]/.test(value), 'must have no query or fragment')
          .transform((value) => value.replace(/\/+$/, ''))
          .optional()
          .meta({ description: 'The address browsers reach "pushctl serve" at (behind a proxy: the public one). Tracked click links are <publicUrl>/c/<token>.', examples: ['https://push.example.com'] }),
        adminToken: z
          .string()
          .min(ADMIN_TOKEN_MIN, `must be at least ${ADMIN_TOKEN_MIN} characters`)
          .superRefine((value, ctx) => {
            const problem = adminTokenProblem(value);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .optional()
          .meta({ description: `Bearer token for the admin API (at least ${ADMIN_TOKEN_MIN} visible ASCII characters: no spaces, newlines or control characters); without one the admin API is off. Env: PUSHCTL_ADMIN_TOKEN.` }),
        rateLimit: z
          .strictObject({
            windowSeconds: z.number().int().min(1).optional().meta({ description: 'Length of the rate-limit window in seconds.', default: DEFAULTS.rateLimit.windowSeconds }),
            max: z.number().int().min(1).optional().meta({ description: 'Public API requests one client address may make per window.', default: DEFAULTS.rateLimit.max }),
          })
          .optional()
          .describe('Per-address limit on the public subscribe API.'),
        metrics: z.boolean().optional().meta({ description: 'Serve Prometheus metrics at GET /metrics.', default: false }),
        metricsPublic: z
          .boolean()
          .optional()
          .meta({ description: 'Serve /metrics without the admin token (for a scraper on a private network); otherwise it needs "Authorization: Bearer <adminToken>".', default: false }),
      })
      .optional()
      .describe('The HTTP receiver, "pushctl serve".'),
  })
  .describe('pushctl configuration (push.config.json, .pushctlrc*, pushctl.config.(js|mjs) or the "pushctl" key of package.json).');

export type ConfigFile = z.infer<typeof fileSchema>;

export function parseFile(raw: unknown, filepath: string): ConfigFile {
  const result = fileSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  let key = issue.path.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0] ?? '';
    key = [...issue.path, unknown].join('.');
    message = 'unknown key';
  }
  throw fail('invalid_config', `${key || '(top level)'}: ${message}`, { at: filepath, details: { file: filepath, key } });
}

/** The config file's JSON Schema, shipped as push.config.schema.json for editors (scripts/config-schema.mjs). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(fileSchema, { io: 'input' }) as Record<string, unknown>;
  return { ...schema, title: 'pushctl configuration' };
}
