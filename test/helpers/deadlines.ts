import { byMode } from './long-mode.ts';

/**
 * Per-test deadlines of the end-to-end tier: a hang fails that one test within minutes (its
 * `after` hooks still stop what it started) instead of holding the run until the file's backstop
 * in scripts/run-tests.mjs. The default fits nearly every test; the few that need more say so
 * with a larger one, sized from their measured durations on a loaded machine with headroom.
 */
export const E2E = { timeout: byMode(120_000, 900_000) };

/** For the tests measured above a minute: a fresh Docker image build, a compose stack, thousands of events. */
export const E2E_SLOW = { timeout: byMode(360_000, 1_800_000) };
