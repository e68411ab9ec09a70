/**
 * Where Debian's PostgreSQL server binaries are: PUSHCTL_TEST_PG_BIN, else the newest version
 * installed under /usr/lib/postgresql (Debian 12 ships 15, later releases newer ones).
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = '/usr/lib/postgresql';

function newestInstalled(): string {
  const versions = fs.existsSync(ROOT) ? fs.readdirSync(ROOT).filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(ROOT, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(ROOT, versions[0] ?? '15', 'bin');
}

export const PG_BIN = process.env.PUSHCTL_TEST_PG_BIN ?? newestInstalled();
