import { fileURLToPath } from 'node:url';

/**
 * bin/pushctl.js, for command lines that start pushctl again (a crontab line). This module sits two
 * levels below the package root in src/cli/, dist/cli/ and the CLI bundle's dist/cjs/ alike.
 */
export function launcherPath(): string {
  return fileURLToPath(new URL('../../bin/pushctl.js', import.meta.url));
}
