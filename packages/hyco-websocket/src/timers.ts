/**
 * Timers that cannot overflow. Node's setTimeout takes at most 2^31-1 ms
 * (about 24.8 days); a longer delay fires after 1 ms. A long timer waits in
 * steps of at most that and re-arms until its time has come.
 */

/** The longest delay Node's setTimeout honours, ms. */
export const MAX_TIMER_MS = 0x7fffffff;

export interface LongTimer {
  /** Stops the timer; it will not fire. */
  clear(): void;
}

/** Calls `fn` after `delayMs` (any length; negative or NaN means now-ish), unref'd when asked. */
export function setLongTimeout(fn: () => void, delayMs: number, unref = false): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const due = Date.now() + (Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0);
  const arm = () => {
    const left = due - Date.now();
    timer = setTimeout(
      () => {
        timer = undefined;
        if (cleared) return;
        if (due - Date.now() > 0 && left > MAX_TIMER_MS) arm();
        else fn();
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    );
    if (unref) timer.unref();
  };
  arm();
  return {
    clear: () => {
      cleared = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
