/** Runtime information the emulator reports (`stats()`, `GET /$status`). */

export interface HybridConnectionStats {
  path: string;
  requiresClientAuthorization: boolean;
  listeners: number;
  /** Tracking ids of the listeners online (as they gave them, made printable). */
  listenerIds: string[];
  pendingSenders: number;
  relayedConnections: number;
}

export interface RelayEmulatorTotals {
  listenersAccepted: number;
  sendersAccepted: number;
  sendersRejected: number;
  sendersTimedOut: number;
  handshakesRefused: number;
  /** Whole data messages (text or binary, however fragmented) relayed, both ways. */
  messagesRelayed: number;
  /** Payload bytes relayed, both ways. */
  bytesRelayed: number;
  /** TLS connections accepted (with TLS on), and how many of them resumed an earlier session. */
  tlsHandshakes: number;
  tlsSessionsResumed: number;
}

export interface RelayEmulatorStats {
  hybridConnections: HybridConnectionStats[];
  /** Relayed connections open right now, whatever became of their hybrid connection. */
  relayedConnections: number;
  totals: RelayEmulatorTotals;
}
