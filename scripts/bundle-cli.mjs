// Bundles the CLI into CommonJS files, which bin/pushctl.js requires: Node loads a few CommonJS
// files much sooner than dozens of ES modules through its ES module loader (docs/performance.md,
// "Start-up"). Two bundles: dist/fast/ holds the fast path (src/cli/fast-path.ts, the commands
// scripts run in a loop), dist/cjs/ the whole program (src/cli/main.ts). Apart, because one build
// of both splits the fast path's modules into more, larger chunks (measured: 16 files instead of
// 11, `subscriptions count` slower); and no process loads both, since the fast path decides from
// the command line alone, before it loads anything, whether it answers. Packages stay outside
// (loaded from node_modules); each import() stays lazy, as its own chunk. Worker threads still load
// their scripts from dist/push/ (each thread is its own module graph, so that is no second copy).
import { readdirSync, readFileSync } from 'node:fs';
import { build } from 'rolldown';

const isPackage = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('file:');

await bundle('fast-path', '../dist/cli/fast-path.js', '../dist/fast/');
await bundle('main', '../dist/cli/main.js', '../dist/cjs/');

async function bundle(name, entry, dir) {
  const outDir = new URL(dir, import.meta.url);
  await build({
    input: { [name]: new URL(entry, import.meta.url).pathname },
    platform: 'node',
    external: isPackage,
    logLevel: 'warn',
    output: {
      format: 'cjs',
      dir: outDir.pathname,
      entryFileNames: '[name].cjs',
      chunkFileNames: '[name]-[hash].cjs',
      cleanDir: true,
    },
  });
  assertSelfContained(outDir);
}

/**
 * A relative require or import() in a chunk that is not another chunk of the same bundle would
 * load a module from dist/ beside its bundled copy (two copies: two registries, failing instanceof
 * checks).
 */
function assertSelfContained(outDir) {
  const chunks = new Set(readdirSync(outDir));
  const strays = [];
  for (const chunk of chunks) {
    const code = readFileSync(new URL(chunk, outDir), 'utf8');
    for (const [, specifier] of code.matchAll(/(?:require|import)\(\s*["'`](\.[^"'`]*)["'`]\s*\)/g)) {
      if (!specifier.startsWith('./') || !chunks.has(specifier.slice(2))) strays.push(`${chunk}: ${specifier}`);
    }
  }
  if (strays.length) {
    console.error(`bundle-cli: modules loaded from outside ${outDir.pathname}:\n  ${strays.join('\n  ')}`);
    process.exit(1);
  }
}
