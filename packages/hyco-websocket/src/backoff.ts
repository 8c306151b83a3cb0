/** Reconnect delays: 0, 1, 2, 5, 10, then 30 s, each plus up to 20% jitter. */

const STEPS_MS = [0, 1000, 2000, 5000, 10000, 30000];

/** The delay before reconnect attempt `attempt` (0-based), in ms. */
export function backoffDelay(attempt: number, steps: readonly number[] = STEPS_MS, random = Math.random): number {
  const base = steps[Math.min(attempt, steps.length - 1)];
  return Math.round(base + base * 0.2 * random());
}

export const DEFAULT_BACKOFF_MS: readonly number[] = STEPS_MS;
