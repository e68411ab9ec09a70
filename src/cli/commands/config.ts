/** `pushctl config show`: the configuration pushctl resolved, and where it came from. */
import type { Command } from 'commander';
import { action } from '../run.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('the configuration in effect (file, environment, flags)');

  config
    .command('show')
    .description('print the resolved configuration; secrets are only said to be set')
    .action(
      action(async ({ out, config: load }) => {
        const { redactedConfig } = await import('../../config.js');
        const resolved = redactedConfig(await load());
        const list = (values: string[]) => (values.length ? values.join(', ') : '(none)');
        out.result(resolved, () => [
          `config file:          ${resolved.configPath ?? '(none found: defaults and environment)'}`,
          `database:             ${resolved.database}`,
          `vapid.subject:        ${resolved.vapid.subject ?? '(not set)'}`,
          `vapid keys:           ${resolved.vapid.keysFrom}`,
          `push.endpointOrigins: ${list(resolved.push.endpointOrigins)} (besides the built-in push services)`,
          `push.defaultTtl:      ${resolved.push.defaultTtl} s`,
          `push.concurrency:     ${resolved.push.concurrency}`,
          `serve.host:           ${resolved.serve.host}`,
          `serve.port:           ${resolved.serve.port}`,
          `serve.corsOrigins:    ${list(resolved.serve.corsOrigins)}`,
          `serve.adminToken:     ${resolved.serve.adminToken ? 'set (hidden)' : 'not set (admin API off)'}`,
          `serve.rateLimit:      ${resolved.serve.rateLimit.max} requests per ${resolved.serve.rateLimit.windowSeconds} s`,
        ]);
      }),
    );
}
