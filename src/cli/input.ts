/** Reading a command's input file or standard input ("-"). */
import fs from 'node:fs';
import { fail } from '../errors.js';

export async function readTextInput(file: string, what: string): Promise<{ text: string; source: string }> {
  if (file === '-') {
    if (process.stdin.isTTY) throw fail('invalid_request', '"-" reads standard input, but it is a terminal; pipe the data in or name a file', { at: what });
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), source: 'stdin' };
  }
  try {
    return { text: await fs.promises.readFile(file, 'utf8'), source: file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail('invalid_input', code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : 'cannot be read', { at: file, details: { file } });
  }
}

/** Opens an input stream for large inputs (imports); "-" is standard input. */
export function openInputStream(file: string, what: string): { stream: NodeJS.ReadableStream; source: string } {
  if (file === '-') {
    if (process.stdin.isTTY) throw fail('invalid_request', '"-" reads standard input, but it is a terminal; pipe the data in or name a file', { at: what });
    return { stream: process.stdin, source: 'stdin' };
  }
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw fail('invalid_input', 'is a directory', { at: file, details: { file } });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw fail('invalid_input', 'no such file', { at: file, details: { file } });
    throw error;
  }
  return { stream: fs.createReadStream(file), source: file };
}

/** Writes a file that holds secrets: created 0600, replaced atomically. */
export function writeSecretFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.renameSync(tmp, file);
  fs.chmodSync(file, 0o600);
}
