/**
 * Tests that need a tool outside Node (tmux, Firefox ESR, Chromium). On a developer machine
 * without the tool they are skipped; in CI (`CI=true`) a missing tool is a failure, so the
 * browser and terminal tests cannot silently stop running there.
 */
import { describe, it } from 'vitest';

export function describeWithTool(tool: string, available: boolean, title: string, body: () => void): void {
  if (available) {
    describe(title, body);
  } else if (process.env.CI === 'true') {
    describe(title, () => {
      it(`needs ${tool}`, () => {
        throw new Error(`${tool} is not installed: with CI=true these tests must run, not be skipped`);
      });
    });
  } else {
    describe.skip(title, body);
  }
}
