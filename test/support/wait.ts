/**
 * Waits for a condition on state that no event announces to the test (rows another process
 * writes, a file appearing): checks it every `everyMs` until it holds or the ceiling passes.
 * The ceiling is generous on purpose: it only bounds a failure, it never paces a success.
 */
export async function waitUntil<T>(what: string, check: () => T | undefined, ceilingMs = 120_000, everyMs = 100): Promise<T> {
  const until = Date.now() + ceilingMs;
  let last: unknown;
  for (;;) {
    try {
      const value = check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`timed out after ${ceilingMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
