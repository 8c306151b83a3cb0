/** What the emulator reports about what comes and goes (its `activity` event). */

/** What the emulator reports through its `activity` event (no secrets, no payloads; client strings made printable). */
export interface RelayActivity {
  type:
    | 'listener-online'
    | 'listener-offline'
    | 'listener-error'
    | 'sender-accepted'
    | 'sender-rejected'
    | 'sender-timed-out'
    | 'connection-closed'
    | 'refused';
  /** The hybrid connection, when known. */
  path: string;
  /** Tracking id of the listener or connection. */
  id: string;
  /** HTTP status or close code, where one applies. */
  status?: number;
  /** Why, for refusals and listener errors. */
  detail?: string;
}
