/**
 * A real, small file system for disk-full tests: a tmpfs of a few hundred KiB mounted on a temp
 * directory (needs root, as in CI), and a filler file that takes up all but a given number of
 * bytes. No SQLite pragma or test hook: pushctl meets ENOSPC exactly as on a full production disk.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './cli.js';

export interface TinyFs {
  dir: string;
  /** Fills the file system until only about `leaveBytes` are free. */
  fill(leaveBytes: number): void;
  /** Removes what fill() wrote. */
  free(): void;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeKiB`; returns why not (not root, no mount) instead of throwing. */
export function mountTinyFs(sizeKiB: number): TinyFs | { unavailable: string } {
  const dir = tempDir('pushctl-tinyfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { unavailable: `cannot mount a tmpfs (root needed): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}` };
  }
  return {
    dir,
    fill(leaveBytes) {
      const file = path.join(dir, 'filler');
      const fd = fs.openSync(file, 'a');
      let size = fs.fstatSync(fd).size;
      try {
        for (const chunk of [Buffer.alloc(64 * 1024), Buffer.alloc(4096), Buffer.alloc(512)]) {
          for (;;) {
            try {
              fs.writeSync(fd, chunk);
              size += chunk.length;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
              break;
            }
          }
        }
        fs.ftruncateSync(fd, Math.max(0, size - leaveBytes));
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(path.join(dir, 'filler'), { force: true });
    },
    unmount() {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
