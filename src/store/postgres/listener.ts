/**
 * Work wake-ups on PostgreSQL: one dedicated connection (not from the pool: a LISTEN belongs to
 * its session) listening on the work channel. When that connection is lost it reconnects with
 * backoff for as long as the watch lasts, LISTENs again, and wakes the watcher once, since
 * anything sent while it was away was missed.
 */
import pg from 'pg';
import type { WorkHint } from '../store.js';
import type { Retrier } from './resilience.js';

/** The channel the store NOTIFYs on (statements.ts notifyWork names it too). */
export const WORK_CHANNEL = 'pushctl_work';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function watchNotifications(
  config: pg.ClientConfig,
  retrier: Retrier,
  onWake: (hint: WorkHint) => void,
): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let reconnecting: Promise<void> | undefined;

  const listen = async (): Promise<pg.Client> => {
    const next = new pg.Client({ ...config, keepAlive: true });
    // Until it is ours, an error only fails connect() below.
    next.on('error', () => {});
    try {
      await next.connect();
      await next.query(`LISTEN ${WORK_CHANNEL}`);
    } catch (error) {
      await next.end().catch(() => {});
      throw error;
    }
    next.on('notification', (message) => {
      if (message.channel !== WORK_CHANNEL) return;
      const id = Number(message.payload);
      onWake({ notificationId: Number.isSafeInteger(id) && id > 0 ? id : null });
    });
    const lost = () => {
      if (stopped || client !== next) return;
      client = undefined;
      reconnecting ??= reconnect().finally(() => (reconnecting = undefined));
    };
    next.on('error', lost);
    next.on('end', lost);
    return next;
  };

  const reconnect = async () => {
    for (let step = 0; !stopped; step++) {
      try {
        const next = await listen();
        if (stopped) {
          await next.end().catch(() => {});
          return;
        }
        client = next;
        onWake({ notificationId: null });
        return;
      } catch {
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(step, 6)) * (0.5 + Math.random() / 2));
      }
    }
  };

  // The first connection within the store's retry budget: a watch that cannot start says so.
  client = await retrier.run(listen, true);
  return async () => {
    stopped = true;
    const current = client;
    client = undefined;
    await current?.end().catch(() => {});
    await reconnecting;
  };
}
