/** A hybrid connection (the entity) and what is attached to it right now. */
import type { SharedAccessRule } from './options';
import type { ControlChannel } from './control-channel';
import type { FrameRelay } from './frame-relay';
import type { ListenerChoice } from './headers';

export class HybridConnection {
  readonly listeners = new Set<ControlChannel>();
  readonly relays = new Set<FrameRelay>();
  pendingSenders = 0;
  readonly createdAt = new Date();
  updatedAt = this.createdAt;

  constructor(
    readonly path: string,
    readonly requiresClientAuthorization: boolean,
    readonly rules: SharedAccessRule[],
    readonly userMetadata: string | undefined = undefined,
  ) {}

  /**
   * A listener chosen at random among the online ones, as the service does;
   * among those the sender allowed and did not disallow, when it chose.
   */
  pickListener(choice?: ListenerChoice): ControlChannel | undefined {
    const online = [...this.listeners].filter((l) => {
      if (!l.isOpen) return false;
      if (!choice) return true;
      const id = l.trackingId.toLowerCase();
      return (choice.allowed === undefined || choice.allowed.has(id)) && !choice.disallowed.has(id);
    });
    if (online.length === 0) return undefined;
    return online[Math.floor(Math.random() * online.length)];
  }

  /** Listeners online now. */
  get listenerCount(): number {
    return [...this.listeners].filter((l) => l.isOpen).length;
  }
}
