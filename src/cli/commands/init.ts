/** `pushctl init`: write push.config.json and generate keys, asking only when a person is there. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { fail } from '../../errors.js';
import { wholeNumber } from '../numbers.js';
import { writeSecretFile } from '../input.js';
import { action } from '../run.js';

interface InitOptions {
  subject?: string;
  database?: string;
  port?: string;
  yes?: boolean;
  force?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('set up pushctl here: write push.config.json (or the --config file) and generate VAPID keys')
    .option('--subject <url>', 'contact for push services: mailto:you@example.com or https://your.site')
    .option('--database <path>', 'SQLite file, relative to the config file', 'pushctl.db')
    .option('--port <port>', 'port for "pushctl serve"', '8080')
    .option('-y, --yes', 'accept the defaults and flags without asking')
    .option('--force', 'overwrite an existing config file')
    .action(
      action<InitOptions>(async ({ options, out }) => {
        const { validateSubject } = await import('../../core/vapid-keys.js');
        const configFile = path.resolve(options.config ?? 'push.config.json');
        if (fs.existsSync(configFile) && !options.force) {
          throw fail('conflict', `${configFile} already exists; re-run with --force to overwrite it`, { details: { file: configFile } });
        }
        let subject = options.subject;
        let database = options.database ?? 'pushctl.db';
        let port = parsePort(options.port ?? '8080');
        if (out.interactive && !options.yes) {
          const { input } = await import('@inquirer/prompts');
          subject = await input({
            message: 'Contact for push services (mailto: or https:)',
            default: subject ?? 'mailto:',
            validate: (value) => {
              try {
                validateSubject(value);
                return true;
              } catch (error) {
                return (error as Error).message.replace(/^--subject: /, '');
              }
            },
          });
          database = await input({ message: 'Database file', default: database });
          port = parsePort(await input({ message: 'Port for "pushctl serve"', default: String(port), validate: (v) => (isPort(v) ? true : 'a port number from 1 to 65535') }));
        }
        if (subject) subject = validateSubject(subject);

        const adminToken = crypto.randomBytes(24).toString('base64url');
        const fileConfig = {
          database,
          ...(subject ? { vapid: { subject } } : {}),
          serve: { port, adminToken },
        };
        // The database path is relative to the config file; make its directory so the first open works.
        fs.mkdirSync(path.dirname(path.resolve(path.dirname(configFile), database)), { recursive: true });
        writeSecretFile(configFile, JSON.stringify(fileConfig, null, 2) + '\n');

        const { loadConfig } = await import('../../config.js');
        const { openContext, closeContext } = await import('../../core/context.js');
        const { ensureActiveKey } = await import('../../core/keys.js');
        const ctx = await openContext(await loadConfig({ config: configFile, db: options.db }));
        try {
          const { key, created } = await ensureActiveKey(ctx, true);
          const result = { config: configFile, database: ctx.config.database, publicKey: key.publicKey, subject: key.subject, keysCreated: created, port };
          out.result(result, () => [
            out.color.green('✓ ') + `wrote ${configFile} (mode 0600: it holds the admin token)`,
            out.color.green('✓ ') + `${created ? 'generated' : 'kept existing'} VAPID keys in ${ctx.config.database}`,
            `public key: ${key.publicKey}`,
            `admin API token: serve.adminToken in ${path.basename(configFile)}`,
            '',
            'Next: pushctl serve   (subscribe page on http://127.0.0.1:' + port + '/)',
          ]);
          if (key.placeholderSubject) out.warn(`no subject given; using ${key.subject}. Set vapid.subject in ${configFile}.`);
        } finally {
          await closeContext(ctx);
        }
      }),
    );
}

function isPort(value: string): boolean {
  return /^\d{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= 65535;
}

function parsePort(value: string): number {
  return wholeNumber(value, 'port', 1, 65535);
}
