/** `pushctl categories add|list|show|update|delete|assign|unassign` */
import type { Command } from 'commander';
import type { CategoryInfo } from '../../core/categories.js';
import type { Output } from '../output.js';
import { printable, printableOr } from '../printable.js';
import { action } from '../run.js';

export function registerCategories(program: Command): void {
  const categories = program.command('categories').description('categories visitors opt into (names: lowercase a-z, 0-9, "-", "_", at most 64)');

  categories
    .command('add')
    .description('create a category')
    .argument('<name>', 'lowercase slug, e.g. "news" or "offers-eu"')
    .option('--description <text>', 'what subscribers get')
    .action(
      action<{ description?: string }, [string]>(async ({ options, out, context }, name) => {
        const { addCategory } = await import('../../core/categories.js');
        const category = await addCategory(await context(), name, options.description);
        out.result(category, () => out.color.green('✓ ') + `category ${category.name} added`);
      }),
    );

  categories
    .command('list')
    .description('list categories with their subscriber counts')
    .action(
      action(async ({ out, context }) => {
        const { listCategories } = await import('../../core/categories.js');
        const list = await listCategories(await context());
        if (out.json) {
          out.result(list, () => {});
          return;
        }
        if (list.length === 0) {
          out.info('no categories yet: add one with "pushctl categories add NAME"');
          return;
        }
        const rows = list.map((c) => [printable(c.name), c.subscribers, printableOr(c.description), c.createdAt.slice(0, 10)]);
        process.stdout.write((await out.table(['NAME', 'SUBSCRIBERS', 'DESCRIPTION', 'CREATED'], rows)) + '\n');
      }),
    );

  categories
    .command('show')
    .description('show one category')
    .argument('<name>', 'category name (or id)')
    .action(
      action<Record<string, never>, [string]>(async ({ out, context }, name) => {
        const { getCategory } = await import('../../core/categories.js');
        const category = await getCategory(await context(), name);
        out.result(category, () => describe(category));
      }),
    );

  categories
    .command('update')
    .description('rename a category, change its description or its frequency cap (memberships are kept)')
    .argument('<name>', 'category name (or id)')
    .option('--name <new>', 'new name')
    .option('--description <text>', 'new description ("" clears it)')
    .option('--cap <n/period>', 'at most N notifications to this category per subscriber per period, e.g. 3/day, 10/week; "none" removes it')
    .option('--quiet-hours <from-to>', 'no pushes to this category in this window of each subscriber\'s local time, e.g. 21:00-09:00; "none": no quiet hours for it; "default": the config\'s')
    .action(
      action<{ name?: string; description?: string; cap?: string; quietHours?: string }, [string]>(async ({ options, out, context }, name) => {
        const { updateCategory } = await import('../../core/categories.js');
        const { fail } = await import('../../errors.js');
        if (options.name === undefined && options.description === undefined && options.cap === undefined && options.quietHours === undefined) {
          throw fail('invalid_request', 'update: nothing to change: give --name, --description, --cap and/or --quiet-hours');
        }
        const change = { name: options.name, description: options.description, cap: options.cap, quietHours: options.quietHours };
        const category = await updateCategory(await context(), name, change);
        out.result(category, () => [out.color.green('✓ ') + `category ${category.name} updated`, ...describe(category)]);
      }),
    );

  categories
    .command('delete')
    .description('delete a category; its subscriptions stay, only their membership goes')
    .argument('<name>', 'category name (or id)')
    .option('-y, --yes', 'do not ask (required when not interactive)')
    .action(
      action<{ yes?: boolean }, [string]>(async ({ options, out, context }, name) => {
        const { getCategory, deleteCategory } = await import('../../core/categories.js');
        const { confirmOrRefuse } = await import('../prompts.js');
        const ctx = await context();
        const category = await getCategory(ctx, name);
        const members = `${category.subscribers} subscription${category.subscribers === 1 ? '' : 's'}`;
        const ok = await confirmOrRefuse(
          out,
          `Delete category "${category.name}"? ${members} will lose it (the subscriptions stay).`,
          options.yes,
          `refusing to delete category "${category.name}" (${members})`,
        );
        if (!ok) {
          out.info('not deleted');
          process.exitCode = 1;
          return;
        }
        const deleted = await deleteCategory(ctx, category.id);
        out.result({ deleted: deleted.name, subscribers: deleted.subscribers }, () => out.color.green('✓ ') + `category ${deleted.name} deleted (${members} kept, without it)`);
      }),
    );

  for (const verb of ['assign', 'unassign'] as const) {
    categories
      .command(verb)
      .description(verb === 'assign' ? 'add subscriptions to a category' : 'take subscriptions out of a category')
      .argument('<name>', 'category name (or id)')
      .requiredOption('--subscription <id...>', 'subscription ids (or endpoints)')
      .action(
        action<{ subscription: string[] }, [string]>(async ({ options, out, context }, name) => {
          const { assignCategory, unassignCategory } = await import('../../core/categories.js');
          const change = await (verb === 'assign' ? assignCategory : unassignCategory)(await context(), name, options.subscription);
          out.result(change, () => membershipLine(out, verb, change));
        }),
      );
  }
}

function membershipLine(out: Output, verb: 'assign' | 'unassign', change: { category: string; changed: number; unchanged: number }): string {
  const n = (k: number) => `${k} subscription${k === 1 ? '' : 's'}`;
  return verb === 'assign'
    ? out.color.green('✓ ') + `${n(change.changed)} added to ${change.category}${change.unchanged ? ` (${change.unchanged} already in it)` : ''}`
    : out.color.green('✓ ') + `${n(change.changed)} removed from ${change.category}${change.unchanged ? ` (${change.unchanged} were not in it)` : ''}`;
}

function describe(c: CategoryInfo): string[] {
  return [
    `name:        ${printable(c.name)}`,
    `id:          ${c.id}`,
    `description: ${printableOr(c.description)}`,
    `subscribers: ${c.subscribers}`,
    `cap:         ${c.cap ?? 'none'}`,
    `quiet hours: ${c.quietHours === null ? '(the config\'s)' : c.quietHours === 'none' ? 'none (not even the config\'s)' : c.quietHours}`,
    `created:     ${c.createdAt}`,
  ];
}
