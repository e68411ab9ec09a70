/**
 * `pushctl keys`: generation, show, subject rules, refusal to replace without --force, and moving
 * keys between installations (pushctl's export, web-push's JSON, PEM), checked in the SQLite file
 * and by signing a VAPID JWT with what was imported.
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import { afterEach, describe, expect, it } from 'vitest';
import { ON_POSTGRES, createEmptyStore, storeExists } from './support/backend.js';
import { openDb, openDbWritable, ROOT, runCli, runJson, tempDir, type RunOptions, type RunResult } from './support/cli.js';

interface KeyInfo {
  id: number;
  publicKey: string;
  subject: string;
  storedSubject: string;
  createdAt: string;
  subscriptions: number;
  source: string;
  placeholderSubject: boolean;
  retired?: KeyInfo[];
}

interface KeyRow {
  id: number;
  public_key: string;
  private_key: string;
  subject: string;
  created_at: number;
  active: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function workdir(): string {
  const dir = fs.realpathSync(tempDir('pushctl-keys-'));
  dirs.push(dir);
  return dir;
}

const opts = (cwd: string, extra: RunOptions = {}): RunOptions => ({ ...extra, cwd, env: { HOME: cwd, ...extra.env } });

function rows(dir: string): KeyRow[] {
  const db = openDb(path.join(dir, 'pushctl.db'));
  try {
    return db.prepare('SELECT * FROM vapid_keys ORDER BY id').all() as KeyRow[];
  } finally {
    db.close();
  }
}

/** A subscription made under a key, as the receiver would store it (to check the counts). */
function addSubscription(dir: string, keyId: number, n: number): void {
  const rw = openDbWritable(path.join(dir, 'pushctl.db'));
  try {
    rw.prepare('INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      `https://push.example.net/send/${keyId}-${n}`,
      'BPLACEHOLDERp256dh',
      'authsecret',
      keyId,
      Date.now(),
      Date.now(),
    );
  } finally {
    rw.close();
  }
}

/** The public point a private scalar belongs to: an independent check that a pair matches. */
function derivePublic(privateKey: string): string {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
  return ecdh.getPublicKey().toString('base64url');
}

/** Signs a VAPID JWT the way pushes are signed, and verifies it against the public key alone. */
function signatureVerifies(publicKey: string, privateKey: string, subject: string): boolean {
  const headers = webpush.getVapidHeaders('https://push.example.net', subject, publicKey, privateKey, 'aes128gcm') as { Authorization: string };
  const match = /^vapid t=([^,]+), k=(.+)$/.exec(headers.Authorization);
  if (!match) return false;
  const [head, body, signature] = match[1]!.split('.') as [string, string, string];
  const point = Buffer.from(publicKey, 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  return (
    match[2] === publicKey &&
    crypto.verify('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))
  );
}

/**
 * A P-256 pair whose private key, as Node's getPrivateKey() prints it, lost its leading zero byte
 * (about one key in 256; older web-push versions printed such keys too).
 */
function shortPrivateKeyPair(): { publicKey: string; privateKey: string } {
  for (;;) {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const privateKey = ecdh.getPrivateKey();
    if (privateKey.length < 32) return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: privateKey.toString('base64url') };
  }
}

function expectNoSecret(results: RunResult[], secret: string): void {
  for (const result of results) {
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  }
}

describe('keys generate', () => {
  it('stores a P-256 pair with its subject in a 0600 database and never prints the private key', async () => {
    const dir = workdir();
    const generated = await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], opts(dir));
    expect(generated.code).toBe(0);
    expect(generated.stdout).toContain('VAPID keys generated');

    const [row, ...others] = rows(dir);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ subject: 'mailto:ops@example.com', active: 1 });
    expect(Buffer.from(row!.public_key, 'base64url')).toHaveLength(65);
    expect(Buffer.from(row!.private_key, 'base64url')).toHaveLength(32);
    expect(derivePublic(row!.private_key)).toBe(row!.public_key);
    expect(generated.stdout).toContain(row!.public_key);
    if (!ON_POSTGRES) expect(fs.statSync(path.join(dir, 'pushctl.db')).mode & 0o777).toBe(0o600);

    const shown = await runCli(['keys', 'show'], opts(dir));
    const shownJson = await runCli(['keys', 'show', '--json'], opts(dir));
    const exported = await runCli(['keys', 'export'], opts(dir));
    expectNoSecret([generated, shown, shownJson, exported], row!.private_key);
  });

  it('--json prints the key description', async () => {
    const dir = workdir();
    const key = await runJson<KeyInfo>(['keys', 'generate', '--subject', 'https://example.com'], opts(dir));
    expect(key).toMatchObject({ id: 1, subject: 'https://example.com', subscriptions: 0, source: 'database', placeholderSubject: false });
    expect(new Date(key.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(key).not.toHaveProperty('privateKey');
  });

  it('without a subject anywhere it uses a placeholder and warns', async () => {
    const dir = workdir();
    const result = await runCli(['keys', 'generate'], opts(dir));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: subject is the placeholder mailto:webpush@example.com/);
    const quiet = await runCli(['keys', 'generate', '--force', '--quiet'], opts(dir));
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  const badSubjects: [string, RegExp][] = [
    ['mailto:me@localhost', /local host/],
    ['https://localhost:8080', /local host/],
    ['https://127.0.0.1', /local host/],
    ['https://[::1]/', /local host/],
    ['mailto:dev@myhost.local', /local host/],
    ['http://example.com', /must be a mailto: or https: URL/],
    ['example.com', /is not a URL/],
    ['mailto:nobody', /needs an address/],
  ];
  for (const [subject, reason] of badSubjects) {
    it(`refuses the subject ${subject} with exit 2 and stores nothing`, async () => {
      const dir = workdir();
      const result = await runCli(['keys', 'generate', '--subject', subject], opts(dir));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--subject: "${subject}"`);
      expect(result.stderr).toMatch(reason);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // Refused before the store is opened: not even an empty database is left behind.
      expect(storeExists(path.join(dir, 'pushctl.db'))).toBe(false);
    });
  }

  it('refuses to replace keys without --force, explains why, and keeps the old key for its subscriptions', async () => {
    const dir = workdir();
    const first = await runJson<KeyInfo>(['keys', 'generate', '--subject', 'mailto:ops@example.com'], opts(dir));
    addSubscription(dir, first.id, 1);
    addSubscription(dir, first.id, 2);

    const refused = await runCli(['keys', 'generate', '--subject', 'mailto:ops@example.com'], opts(dir));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('VAPID keys already exist (2 subscriptions made under them)');
    expect(refused.stderr).toMatch(/accept pushes only signed with it/);
    expect(refused.stderr).toMatch(/--force/);
    expect(rows(dir).map((r) => [r.public_key, r.active])).toEqual([[first.publicKey, 1]]);

    const second = await runJson<KeyInfo>(['keys', 'generate', '--force'], opts(dir));
    expect(second.publicKey).not.toBe(first.publicKey);
    expect(rows(dir).map((r) => [r.public_key, r.active])).toEqual([
      [first.publicKey, 0],
      [second.publicKey, 1],
    ]);
    expect(rows(dir)[0]!.private_key).not.toBe('');

    const shown = await runJson<KeyInfo>(['keys', 'show'], opts(dir));
    expect(shown.publicKey).toBe(second.publicKey);
    expect(shown.subscriptions).toBe(0);
    expect(shown.retired).toEqual([expect.objectContaining({ publicKey: first.publicKey, subscriptions: 2 })]);
    const human = await runCli(['keys', 'show'], opts(dir));
    expect(human.stdout).toContain(`older keys:    ${first.publicKey.slice(0, 16)}... (2 subscriptions)`);
  });
});

describe('keys show', () => {
  it('prints the applicationServerKey, subject, creation date and subscription count', async () => {
    const dir = workdir();
    const key = await runJson<KeyInfo>(['keys', 'generate', '--subject', 'mailto:ops@example.com'], opts(dir));
    addSubscription(dir, key.id, 1);
    const result = await runCli(['keys', 'show'], opts(dir));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`public key:    ${key.publicKey}`);
    expect(result.stdout).toContain('subject:       mailto:ops@example.com');
    expect(result.stdout).toContain(`created:       ${key.createdAt}`);
    expect(result.stdout).toContain('subscriptions: 1');
    const json = await runJson<KeyInfo>(['keys', 'show'], opts(dir));
    expect(json).toMatchObject({ publicKey: key.publicKey, subject: 'mailto:ops@example.com', createdAt: key.createdAt, subscriptions: 1, retired: [] });
  });

  it('without keys exits 1 with a hint, and creates no database', async () => {
    const dir = workdir();
    const result = await runCli(['keys', 'show'], opts(dir));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/pushctl keys generate|pushctl init/);
    expect(storeExists(path.join(dir, 'pushctl.db'))).toBe(false);
  });
});

describe('keys export and import', () => {
  it('export prints only the public key unless --private; a round trip to another installation keeps the pair', async () => {
    const source = workdir();
    const target = workdir();
    const key = await runJson<KeyInfo>(['keys', 'generate', '--subject', 'mailto:ops@example.com'], opts(source));
    const privateKey = rows(source)[0]!.private_key;

    const publicOnly = await runCli(['keys', 'export'], opts(source));
    expect(JSON.parse(publicOnly.stdout)).toEqual({ publicKey: key.publicKey, subject: 'mailto:ops@example.com' });
    expect(publicOnly.stdout).not.toContain(privateKey);
    const importPublic = await runCli(['keys', 'import', '-'], opts(target, { input: publicOnly.stdout }));
    expect(importPublic.code).toBe(2);
    expect(importPublic.stderr).toMatch(/"privateKey" is missing \(export with --private/);

    const exported = await runCli(['keys', 'export', '--private'], opts(source));
    expect(JSON.parse(exported.stdout)).toEqual({ publicKey: key.publicKey, privateKey, subject: 'mailto:ops@example.com' });

    const file = path.join(target, 'keys.json');
    const written = await runCli(['keys', 'export', '--private', '-o', file], opts(source));
    expect(written.code).toBe(0);
    expect(written.stdout).toBe('');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    const imported = await runJson<KeyInfo>(['keys', 'import', file], opts(target));
    expect(imported).toMatchObject({ publicKey: key.publicKey, subject: 'mailto:ops@example.com' });
    expect(rows(target)).toEqual([expect.objectContaining({ public_key: key.publicKey, private_key: privateKey, active: 1 })]);
    expectNoSecret([written], privateKey);

    // Importing the same pair again is harmless; another pair needs --force.
    expect((await runCli(['keys', 'import', file], opts(target))).code).toBe(0);
    const other = webpush.generateVAPIDKeys();
    fs.writeFileSync(path.join(target, 'other.json'), JSON.stringify(other));
    const refused = await runCli(['keys', 'import', 'other.json'], opts(target));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--force/);
    const forced = await runJson<KeyInfo>(['keys', 'import', 'other.json', '--force', '--subject', 'https://example.org'], opts(target));
    expect(forced).toMatchObject({ publicKey: other.publicKey, subject: 'https://example.org' });
    expect(rows(target).map((r) => r.active)).toEqual([0, 1]);
  });

  it('imports what "web-push generate-vapid-keys --json" prints, and pushes signed with it verify', async () => {
    const dir = workdir();
    const cli = path.join(ROOT, 'node_modules/web-push/src/cli.js');
    const printed = execFileSync(process.execPath, [cli, 'generate-vapid-keys', '--json'], { encoding: 'utf8' });
    const pair = JSON.parse(printed) as { publicKey: string; privateKey: string };

    const imported = await runCli(['keys', 'import', '-', '--subject', 'mailto:ops@example.com'], opts(dir, { input: printed }));
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(pair.publicKey);
    expectNoSecret([imported], pair.privateKey);

    const exported = JSON.parse((await runCli(['keys', 'export', '--private'], opts(dir))).stdout) as { publicKey: string; privateKey: string; subject: string };
    expect(exported.publicKey).toBe(pair.publicKey);
    expect(signatureVerifies(exported.publicKey, exported.privateKey, exported.subject)).toBe(true);
    // The check can fail: a JWT signed with another key does not verify under this public key.
    expect(signatureVerifies(exported.publicKey, webpush.generateVAPIDKeys().privateKey, exported.subject)).toBe(false);
  });

  it('takes a private key printed without its leading zero byte (31 bytes) and keeps it as 32', async () => {
    const dir = workdir();
    const pair = shortPrivateKeyPair();
    expect(Buffer.from(pair.privateKey, 'base64url').length).toBeLessThan(32);
    const imported = await runCli(['keys', 'import', '-', '--subject', 'mailto:ops@example.com'], opts(dir, { input: JSON.stringify(pair) }));
    expect(imported.code, imported.stderr).toBe(0);
    const exported = JSON.parse((await runCli(['keys', 'export', '--private'], opts(dir))).stdout) as { publicKey: string; privateKey: string; subject: string };
    expect(exported.publicKey).toBe(pair.publicKey);
    const stored = Buffer.from(exported.privateKey, 'base64url');
    expect(stored.length).toBe(32);
    expect(stored[0]).toBe(0);
    expect(stored.subarray(32 - Buffer.from(pair.privateKey, 'base64url').length).toString('base64url')).toBe(pair.privateKey);
    expect(signatureVerifies(exported.publicKey, exported.privateKey, exported.subject)).toBe(true);
  });

  it('refuses a private key that does not belong to the public key, storing nothing', async () => {
    const dir = workdir();
    const a = webpush.generateVAPIDKeys();
    const b = webpush.generateVAPIDKeys();
    const result = await runCli(['keys', 'import', '-'], opts(dir, { input: JSON.stringify({ publicKey: a.publicKey, privateKey: b.privateKey }) }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('stdin: privateKey: does not belong to publicKey');
    expectNoSecret([result], b.privateKey);
    expect(storeExists(path.join(dir, 'pushctl.db'))).toBe(false);
  });

  const pemFormats: ['pkcs8' | 'sec1', string][] = [
    ['pkcs8', 'PRIVATE KEY'],
    ['sec1', 'EC PRIVATE KEY'],
  ];
  for (const [type, label] of pemFormats) {
    it(`imports a P-256 private key in PEM (${label}) and derives its public key`, async () => {
      const dir = workdir();
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ format: 'pem', type }).toString();
      expect(pem).toContain(`-----BEGIN ${label}-----`);
      fs.writeFileSync(path.join(dir, 'vapid.pem'), pem);
      const jwk = privateKey.export({ format: 'jwk' });
      const expectedPublic = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]).toString('base64url');

      const imported = await runJson<KeyInfo>(['keys', 'import', 'vapid.pem', '--subject', 'mailto:ops@example.com'], opts(dir));
      expect(imported.publicKey).toBe(expectedPublic);
      const [row] = rows(dir);
      expect(row!.private_key).toBe(jwk.d);
      expect(signatureVerifies(row!.public_key, row!.private_key, row!.subject)).toBe(true);

      // And back out as PEM: the same key.
      const out = await runCli(['keys', 'export', '--private', '--pem'], opts(dir));
      expect(crypto.createPrivateKey(out.stdout).export({ format: 'jwk' }).d).toBe(jwk.d);
      const pub = await runCli(['keys', 'export', '--pem'], opts(dir));
      expect(pub.stdout).toContain('-----BEGIN PUBLIC KEY-----');
      expect(pub.stdout).not.toContain('PRIVATE');
    });
  }

  const badInputs: [string, string, RegExp][] = [
    ['a P-384 key', crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /EC P-256/],
    ['an RSA key', crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /EC P-256/],
    ['a broken PEM', '-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n', /not a PEM private key/],
    ['text', 'hello', /neither JSON .* nor a PEM private key/],
    ['a short public key', JSON.stringify({ publicKey: 'BAAA', privateKey: 'AAAA' }), /65-byte/],
  ];
  for (const [what, content, reason] of badInputs) {
    it(`refuses ${what} with exit 2 naming the file`, async () => {
      const dir = workdir();
      fs.writeFileSync(path.join(dir, 'in.txt'), content);
      const result = await runCli(['keys', 'import', 'in.txt'], opts(dir));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('in.txt: ');
      expect(result.stderr).toMatch(reason);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(storeExists(path.join(dir, 'pushctl.db')), 'a bad file leaves no database behind').toBe(false);
    });
  }

  it('a missing file exits 2 naming it', async () => {
    const dir = workdir();
    const result = await runCli(['keys', 'import', 'nope.json'], opts(dir));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nope.json: no such file');
  });
});

describe('keys from the environment (a secret store)', () => {
  it('signs with PUSHCTL_VAPID_* keys, stores only the public half, and refuses to manage keys meanwhile', async () => {
    const dir = workdir();
    const pair = webpush.generateVAPIDKeys();
    const env = { PUSHCTL_VAPID_PUBLIC_KEY: pair.publicKey, PUSHCTL_VAPID_PRIVATE_KEY: pair.privateKey, PUSHCTL_VAPID_SUBJECT: 'mailto:ops@example.com' };
    // No store yet: keys show does not create one (serve or init does).
    expect((await runCli(['keys', 'show'], opts(dir, { env }))).code).toBe(1);
    await createEmptyStore(path.join(dir, 'pushctl.db'));
    const shown = await runCli(['keys', 'show', '--json'], opts(dir, { env }));
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ publicKey: pair.publicKey, source: 'environment', subject: 'mailto:ops@example.com' });
    expect(rows(dir)).toEqual([expect.objectContaining({ public_key: pair.publicKey, private_key: '', active: 1 })]);

    const generate = await runCli(['keys', 'generate', '--force'], opts(dir, { env }));
    expect(generate.code).toBe(2);
    expect(generate.stderr).toMatch(/PUSHCTL_VAPID_PUBLIC_KEY/);
    expectNoSecret([shown, generate], pair.privateKey);
  });

  it('takes a private key printed without its leading zero byte from the environment too', async () => {
    const dir = workdir();
    const pair = shortPrivateKeyPair();
    await createEmptyStore(path.join(dir, 'pushctl.db'));
    const shown = await runCli(['keys', 'show', '--json'], opts(dir, { env: { PUSHCTL_VAPID_PUBLIC_KEY: pair.publicKey, PUSHCTL_VAPID_PRIVATE_KEY: pair.privateKey } }));
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ publicKey: pair.publicKey, source: 'environment' });
  });

  it('refuses a mismatched pair naming the variables', async () => {
    const dir = workdir();
    const a = webpush.generateVAPIDKeys();
    const b = webpush.generateVAPIDKeys();
    await createEmptyStore(path.join(dir, 'pushctl.db'));
    const result = await runCli(['keys', 'show'], opts(dir, { env: { PUSHCTL_VAPID_PUBLIC_KEY: a.publicKey, PUSHCTL_VAPID_PRIVATE_KEY: b.privateKey } }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PUSHCTL_VAPID_PUBLIC_KEY/PUSHCTL_VAPID_PRIVATE_KEY: privateKey: does not belong to publicKey');
    expectNoSecret([result], b.privateKey);
  });
});
