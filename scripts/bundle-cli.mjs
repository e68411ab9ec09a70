// Bundles the fast path (dist/cli/fast-path.js and the modules it loads) into CommonJS files in
// dist/fast/, which bin/pushctl.js requires: Node loads a few CommonJS files much sooner than
// twenty ES modules through its ES module loader (docs/performance.md, "Start-up"). Packages
// stay outside (required from node_modules); each import() stays lazy, as its own file.
import { build } from 'rolldown';

const isPackage = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('file:');

await build({
  input: { 'fast-path': new URL('../dist/cli/fast-path.js', import.meta.url).pathname },
  platform: 'node',
  external: isPackage,
  logLevel: 'warn',
  output: {
    format: 'cjs',
    dir: new URL('../dist/fast/', import.meta.url).pathname,
    entryFileNames: '[name].cjs',
    chunkFileNames: '[name]-[hash].cjs',
    cleanDir: true,
  },
});
