// Builds native/ecdh.c (P-256 key agreement through the system's libcrypto, about half the CPU of
// node:crypto's: see the file) into dist/native/ecdh.node with the C compiler, Node's own headers
// (include/node beside the node binary) and OpenSSL's (libssl-dev). Without them pushctl works the
// same and encrypts with node:crypto: this says so and exits 0. PUSHCTL_REQUIRE_NATIVE=1 (CI) makes a
// failed build an error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const source = path.join(root, 'native/ecdh.c');
const outDir = path.join(root, 'dist/native');
const output = path.join(outDir, 'ecdh.node');
const nodeHeaders = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
const required = process.env.PUSHCTL_REQUIRE_NATIVE === '1';

function skip(why) {
  fs.rmSync(output, { force: true });
  const message = `pushctl: native P-256 key agreement not built (${why}); sends use node:crypto instead, about a fifth more CPU per message`;
  if (required) {
    console.error(`${message}\nPUSHCTL_REQUIRE_NATIVE=1: failing the build`);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}

if (process.platform === 'win32') skip('not built on Windows');
if (!fs.existsSync(path.join(nodeHeaders, 'node_api.h'))) skip(`no Node headers in ${nodeHeaders}`);
const cc = process.env.CC ?? 'cc';
fs.mkdirSync(outDir, { recursive: true });
const args = ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-I', nodeHeaders, source, '-o', output, '-lcrypto'];
if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
const result = spawnSync(cc, args, { encoding: 'utf8' });
if (result.error) skip(`${cc}: ${result.error.message}`);
if (result.status !== 0) skip(`${cc} failed: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 3).join(' / ')}`);
