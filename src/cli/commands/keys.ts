/** `pushctl keys generate|show|export|import` */
import { plural } from '../plural.js';
import type { Command } from 'commander';
import type { KeyInfo } from '../../core/keys.js';
import { readTextInput, writeSecretFile } from '../input.js';
import type { Output } from '../output.js';
import { action } from '../run.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('VAPID keys (RFC 8292) that sign every push');

  keys
    .command('generate')
    .description('create a P-256 key pair and store it')
    .option('--subject <url>', 'contact for push services: mailto:you@example.com or https://your.site')
    .option('--force', 'replace existing keys (subscriptions made under the old key keep using it)')
    .action(
      action<{ subject?: string; force?: boolean }>(async ({ options, out, context }) => {
        const { generateKeys } = await import('../../core/keys.js');
        const { validateSubject } = await import('../../core/vapid-keys.js');
        // A bad subject is refused before the store is opened, so it leaves no empty database behind.
        if (options.subject !== undefined) validateSubject(options.subject);
        const ctx = await context({ create: true });
        const key = await generateKeys(ctx, { subject: options.subject, force: options.force });
        out.result(key, () => [
          out.color.green('✓ ') + 'VAPID keys generated',
          `public key: ${key.publicKey}`,
          `subject:    ${key.subject}`,
        ]);
        warnAboutSubject(out, key);
      }),
    );

  keys
    .command('show')
    .description('show the public key (the applicationServerKey a page needs), subject and usage')
    .action(
      action(async ({ out, context }) => {
        const { showKeys, retiredKeys } = await import('../../core/keys.js');
        const ctx = await context();
        const key = await showKeys(ctx);
        const older = await retiredKeys(ctx);
        out.result({ ...key, retired: older }, () => [
          `public key:    ${key.publicKey}`,
          `subject:       ${key.subject}${key.placeholderSubject ? out.color.yellow(' (placeholder: set a real one)') : ''}${key.storedSubject !== key.subject ? ` (configured; stored with the key: ${key.storedSubject})` : ''}`,
          `created:       ${key.createdAt}`,
          `source:        ${key.source}`,
          `subscriptions: ${key.subscriptions}`,
          ...(older.length ? [`older keys:    ${older.map((k) => `${k.publicKey.slice(0, 16)}... (${plural(k.subscriptions, 'subscription')})`).join(', ')}`] : []),
        ]);
      }),
    );

  keys
    .command('export')
    .description('print the keys as JSON ({publicKey, subject}; --private adds privateKey) or PEM')
    .option('--private', 'include the private key (treat the output as a secret)')
    .option('--pem', 'print PEM instead of JSON')
    .option('-o, --output <file>', 'write to a file (created with mode 0600)')
    .action(
      action<{ private?: boolean; pem?: boolean; output?: string }>(async ({ options, out, context }) => {
        const { exportKeys } = await import('../../core/keys.js');
        const { keyPairToPem } = await import('../../core/vapid-keys.js');
        const ctx = await context();
        const exported = await exportKeys(ctx, { includePrivate: true });
        let text: string;
        if (options.pem) {
          const pem = keyPairToPem({ publicKey: exported.publicKey, privateKey: exported.privateKey! });
          text = options.private ? pem.privateKeyPem : pem.publicKeyPem;
        } else {
          const value = options.private ? exported : { publicKey: exported.publicKey, subject: exported.subject };
          text = JSON.stringify(value, null, 2) + '\n';
        }
        if (options.output) {
          writeSecretFile(options.output, text);
          out.success(`keys written to ${options.output}${options.private ? ' (includes the private key; mode 0600)' : ''}`);
        } else {
          process.stdout.write(text);
        }
      }),
    );

  keys
    .command('import')
    .description('import keys from JSON ({publicKey, privateKey}, as web-push generate-vapid-keys --json prints) or a PEM private key')
    .argument('<file>', 'file to read, or - for standard input')
    .option('--subject <url>', 'contact for push services (default: the file\'s subject, then the configured one)')
    .option('--force', 'replace existing keys (subscriptions made under the old key keep using it)')
    .action(
      action<{ subject?: string; force?: boolean }, [string]>(async ({ options, out, context }, file) => {
        const { importKeys, parseKeyFile } = await import('../../core/keys.js');
        const { text, source } = await readTextInput(file, 'keys import');
        const keyFile = parseKeyFile(text, source);
        const ctx = await context({ create: true });
        const key = await importKeys(ctx, keyFile, { subject: options.subject, force: options.force });
        out.result(key, () => [out.color.green('✓ ') + 'VAPID keys imported', `public key: ${key.publicKey}`, `subject:    ${key.subject}`]);
        warnAboutSubject(out, key);
      }),
    );
}

function warnAboutSubject(out: Output, key: KeyInfo): void {
  if (key.placeholderSubject) {
    out.warn(`subject is the placeholder ${key.subject}; set a real one with --subject or vapid.subject in push.config.json`);
  } else if (key.storedSubject !== key.subject) {
    out.warn(
      `pushes will be signed with the configured subject ${key.subject} (PUSHCTL_VAPID_SUBJECT or vapid.subject), which overrides ${key.storedSubject} stored with the key`,
    );
  }
}
