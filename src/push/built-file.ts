/**
 * A file the build puts beside the compiled src/push modules (a worker's script, the encryption
 * module, the native addon), by its path relative to dist/push/. Under the TypeScript sources
 * (vitest) there is no .js beside them, so the built one in dist/ is used: run `npm run build`
 * first, as for the CLI tests. The path goes through `../push/` so that it holds from dist/push/ and
 * from the CommonJS bundle in dist/cjs/ (scripts/bundle-cli.mjs) alike.
 */
export function builtFile(relativeToDistPush: string): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL(`../../dist/push/${relativeToDistPush}`, here) : new URL(`../push/${relativeToDistPush}`, here);
}
