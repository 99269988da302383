import type { TestContext } from 'node:test';

/** Just enough of node:test's context for the test helpers' cleanup hooks, run in order. */
export function cleanupContext(): { t: TestContext; cleanup: () => Promise<void> } {
  const hooks: Array<() => unknown> = [];
  return {
    t: { after: (hook: () => unknown) => void hooks.push(hook) } as unknown as TestContext,
    cleanup: async () => {
      for (const hook of hooks) await hook();
    },
  };
}
