/**
 * What every protocol action (listen, connect, accept, HTTP request, HTTP
 * rendezvous) shares: the options, the namespace, the waiting senders and
 * HTTP exchanges, authorization, and the one place where refusals are
 * counted, logged and reported.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AccessRight } from 'hyco-websocket/protocol';
import { authorize } from './auth';
import { isJwt } from './entra';
import type { EntraAuthority } from './entra';
import type { AuthResult } from './auth';
import { writeFailure } from './handshake';
import { relayCredential } from './headers';
import type { RelayCredential } from './headers';
import type { HttpExchanges } from './http-exchange';
import type { HybridConnection } from './hybrid-connection';
import type { Namespace } from './namespace';
import type { ResolvedOptions, SharedAccessRule } from './options';
import type { RendezvousTable } from './rendezvous';
import type { RequestTarget } from './request-target';
import { printable, safeDebug, statusText } from './tracking';
import type { RelayActivity } from './activity';
import type { Inspector } from './inspector';

export type { RelayActivity } from './activity';

const debug = safeDebug('hyco-relay-emulator:gateway');

/** The result of an authorization, with where the token came from. */
export type Authorization = AuthResult & { credential: RelayCredential };

/** How many recent activity entries are kept for the dashboard. */
const RECENT_ACTIVITY = 100;

/** An activity entry with the time it happened. */
export type TimedActivity = RelayActivity & { time: string };

export class RelayContext {
  /** True once close() has begun. */
  closing = false;
  /** The latest activity, newest last (already made printable). */
  readonly recent: TimedActivity[] = [];
  /** Called after each reported activity (the dashboard's live updates). */
  onActivity: (() => void) | undefined;
  /** What went through the relay (requests, connections, listeners), when recording is on. */
  inspector: Inspector | undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly namespace: Namespace,
    readonly rendezvous: RendezvousTable,
    readonly http: HttpExchanges,
    /** `ws` or `wss`: the scheme of every address the relay hands out. */
    readonly scheme: 'ws' | 'wss',
    /** Checks Entra ID tokens (made once the emulator's socket is bound; no request is served before). */
    private readonly entraAuthority: () => EntraAuthority,
    private readonly emitActivity: (activity: RelayActivity) => void,
  ) {}

  /** The identity provider's checks of Entra ID tokens. */
  get entra(): EntraAuthority {
    return this.entraAuthority();
  }

  /** Reports activity with every client-supplied string made printable and bounded. */
  report(activity: RelayActivity): void {
    const safe: RelayActivity = { type: activity.type, path: printable(activity.path), id: printable(activity.id) };
    if (activity.status !== undefined) safe.status = activity.status;
    if (activity.detail !== undefined) safe.detail = printable(activity.detail, 300);
    if (activity.listenerAddress !== undefined) safe.listenerAddress = printable(activity.listenerAddress, 64);
    this.recent.push({ ...safe, time: new Date().toISOString() });
    if (this.recent.length > RECENT_ACTIVITY) this.recent.shift();
    this.emitActivity(safe);
    this.onActivity?.();
  }

  /** Counts, logs and reports a refused request (WebSocket handshake or HTTP). */
  noteRefusal(status: number, what: string, trackingId: string, path: string): void {
    this.namespace.totals.handshakesRefused++;
    debug('refused %d: %s (%s)', status, what, trackingId);
    this.report({ type: 'refused', path, id: trackingId, status, detail: what });
  }

  /** Refuses a WebSocket handshake with `status` and a service-style status text. */
  refuse(socket: Duplex, status: number, what: string, target: { trackingId: string; hostname: string }, path: string): void {
    this.noteRefusal(status, what, target.trackingId, path);
    writeFailure(socket, status, statusText(what, target.trackingId, target.hostname, path));
  }

  /**
   * Checks `token` for `right` on the hybrid connection `path` (existing or
   * about to be created, with its own `rules`), reached as `hostname`. The
   * audience is built from the checked host name, never from raw input.
   */
  async checkToken(token: string | undefined, hostname: string, path: string, rules: SharedAccessRule[], right: AccessRight): Promise<AuthResult> {
    // An Entra ID token (a JWT) is checked against role assignments; anything else as a SAS token.
    if (token !== undefined && isJwt(token)) return this.entra.check(token, path, right);
    return Promise.resolve(authorize(token, { entityUri: `http://${hostname}/${path}`, rules: [...rules, ...this.options.rules] }, right));
  }

  /** Checks the token `req` carries (PROTOCOL.md: header, query, then Authorization). */
  async authorize(req: IncomingMessage, target: RequestTarget, path: string, rules: SharedAccessRule[], right: AccessRight): Promise<Authorization> {
    const credential = relayCredential(req, target.query);
    const result = await this.checkToken(credential.token, target.hostname, path, rules, right);
    return { ...result, credential };
  }

  /** `authorize` for an existing hybrid connection. */
  authorizeFor(req: IncomingMessage, target: RequestTarget, entity: HybridConnection, right: AccessRight): Promise<Authorization> {
    return this.authorize(req, target, entity.path, entity.rules, right);
  }
}
