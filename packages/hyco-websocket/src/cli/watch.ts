/**
 * How `listen` and `expose` report a listener's life: reconnects, errors
 * (explained by the failure table, each said once), and a stop with the
 * table's exit code when retrying will not cure it. With `--json` each is
 * also one object on stdout (`reconnecting`, `error`).
 */
import type { EventEmitter } from 'node:events';
import type { RelayError } from '../errors';
import { explainFailure } from './failures';
import type { FailureContext } from './failures';
import { complain, outJson, outParts, progress } from './terminal';

export interface Watched extends EventEmitter {
  close(): Promise<void>;
}

export function watchListener(listener: Watched, ctx: FailureContext, json: boolean): { online(): void } {
  let lastFailure: string | undefined;
  let stopProgress = progress(`connecting to "${ctx.path ?? ''}" through ${ctx.address}`);
  listener.on('connecting', (attempt: number, delay: number) => {
    if (attempt === 0 || lastFailure !== undefined) return;
    if (json) outJson({ type: 'reconnecting', attempt: attempt + 1, delayMs: delay });
    else outParts(['reconnecting', 'yellow'], ` (attempt ${attempt + 1}, in ${delay} ms)`);
  });
  listener.on('offline', (err?: RelayError) => {
    if (!err) return;
    // Said once: an error that ends the listener (404) is not repeated as "offline".
    const failure = explainFailure(err, ctx);
    if (failure.line !== lastFailure) complain(failure.line);
    process.exitCode = failure.exitCode;
  });
  listener.on('error', (err: RelayError) => {
    const failure = explainFailure(err, ctx);
    if (failure.line === lastFailure) return;
    lastFailure = failure.line;
    stopProgress();
    if (json) outJson({ type: 'error', code: err.code ?? null, statusCode: err.statusCode ?? null, message: failure.line, exitCode: failure.exitCode, fatal: failure.stop });
    complain(failure.line);
    if (failure.stop) {
      process.exitCode = failure.exitCode;
      void listener.close();
    }
  });
  return {
    online() {
      stopProgress();
      stopProgress = () => {};
      lastFailure = undefined;
    },
  };
}
