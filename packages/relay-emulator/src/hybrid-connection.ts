/** A hybrid connection (the entity) and what is attached to it right now. */
import type { SharedAccessRule } from './options';
import type { ControlChannel } from './control-channel';
import type { FrameRelay } from './frame-relay';

export class HybridConnection {
  readonly listeners = new Set<ControlChannel>();
  readonly relays = new Set<FrameRelay>();
  pendingSenders = 0;

  constructor(
    readonly path: string,
    readonly requiresClientAuthorization: boolean,
    readonly rules: SharedAccessRule[],
  ) {}

  /** A listener chosen at random among the online ones, as the service does. */
  pickListener(): ControlChannel | undefined {
    const online = [...this.listeners].filter((l) => l.isOpen);
    if (online.length === 0) return undefined;
    return online[Math.floor(Math.random() * online.length)];
  }
}
