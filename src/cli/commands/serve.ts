/** `pushctl serve`: the subscribe page, the public subscription endpoints and the admin API. */
import type { Command } from 'commander';
import { fail } from '../../errors.js';
import { wholeNumber } from '../numbers.js';
import { action } from '../run.js';

interface ServeOptions {
  host?: string;
  port?: string;
  dispatch?: boolean;
}

/** How long requests in flight may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the subscribe page, the subscription endpoints and the admin API over HTTP')
    .option('--host <host>', 'address to listen on (default: serve.host, else 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 for any free one (default: serve.port, else 8080)')
    .option('--dispatch', 'also run the dispatcher loop (scheduled and recurring notifications) in this process')
    .addHelpText(
      'after',
      '\nOne access-log line per request on stdout (method, path, status, ms); --json makes them JSON.\n' +
        'The admin API is on only when serve.adminToken (or PUSHCTL_ADMIN_TOKEN) is set.',
    )
    .action(
      action<ServeOptions>(async ({ options, out, config, context }) => {
        const resolved = await config();
        const host = options.host ?? resolved.serve.host;
        const port = options.port === undefined ? resolved.serve.port : parsePort(options.port);
        // While the database is unreachable, answer 503 after a moment (and recover by itself), never hang.
        const { RETRY_BUDGET } = await import('../../core/context.js');
        const ctx = await context({ create: true, retryForMs: RETRY_BUDGET.serve });
        const { ensureActiveKey } = await import('../../core/keys.js');
        const { createPushctlServer } = await import('../../http/server.js');

        const { key, created } = await ensureActiveKey(ctx, true);
        if (created) out.warn(`generated VAPID keys in ${ctx.config.database} (public key ${key.publicKey})`);
        if (key.placeholderSubject) {
          out.warn(`the VAPID subject is the placeholder ${key.subject}: set a real contact with vapid.subject in push.config.json or PUSHCTL_VAPID_SUBJECT (mailto:you@example.com or https://your.site)`);
        }
        if (!ctx.config.serve.adminToken) out.info('admin API off: set serve.adminToken in push.config.json (or PUSHCTL_ADMIN_TOKEN) to turn it on');
        if (ctx.config.serve.metrics && !ctx.config.serve.metricsPublic && !ctx.config.serve.adminToken) {
          out.warn('serve.metrics is on but /metrics needs the admin token, and none is set: set serve.adminToken, or serve.metricsPublic: true');
        }

        const app = createPushctlServer(ctx, { jsonLog: out.json });
        const address = await app.listen(port, host).catch((error: NodeJS.ErrnoException) => {
          throw fail('invalid_config', `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EACCES' ? 'permission denied' : error.message}`);
        });
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        const url = `http://${shownHost}:${address.port}/`;

        let dispatcher: { stop(): Promise<void> } | undefined;
        if (options.dispatch) dispatcher = await startDispatcher(ctx, (line) => out.info(line));

        const started = { event: 'listening', url, host: address.address, port: address.port, admin: Boolean(ctx.config.serve.adminToken), dispatch: Boolean(dispatcher) };
        out.line(
          out.json
            ? JSON.stringify(started)
            : `pushctl serve: listening on ${url} (admin API ${started.admin ? 'on' : 'off'}, dispatcher ${started.dispatch ? 'on' : 'off'})`,
        );

        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (signal: NodeJS.Signals) => {
            if (stopping) {
              out.warn(`${signal} again: exiting at once`);
              process.exit(1);
            }
            stopping = true;
            // Stop accepting first (synchronously, inside close), then say so.
            const closed = app.close(SHUTDOWN_GRACE_MS);
            out.info(`${signal}: no new connections; finishing requests in flight, then closing the database`);
            void (async () => {
              await closed;
              await dispatcher?.stop();
              resolve();
            })();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        out.info('pushctl serve: stopped');
      }),
    );
}

/** The dispatcher loop in this process, stopped through its AbortSignal on shutdown. */
async function startDispatcher(ctx: import('../../core/context.js').Context, info: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  const { runDispatcherLoop } = await import('../dispatch-loop.js');
  return runDispatcherLoop(ctx, info);
}

function parsePort(value: string): number {
  return wholeNumber(value, 'port', 0, 65535);
}
