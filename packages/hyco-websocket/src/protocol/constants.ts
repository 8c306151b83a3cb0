/** Names and limits from the Hybrid Connections wire protocol. */

/** Query parameter names the service reads (all `sb-hc-` prefixed). */
export const PARAM_ACTION = 'sb-hc-action';
export const PARAM_TOKEN = 'sb-hc-token';
export const PARAM_ID = 'sb-hc-id';
export const PARAM_STATUS_CODE = 'sb-hc-statusCode';
export const PARAM_STATUS_DESCRIPTION = 'sb-hc-statusDescription';

/** Values of `sb-hc-action`. */
export const ACTION_LISTEN = 'listen';
export const ACTION_CONNECT = 'connect';
export const ACTION_ACCEPT = 'accept';
export const ACTION_REQUEST = 'request';

/** The path prefix of WebSocket endpoints. */
export const HC_PATH_PREFIX = '$hc';

/** The preferred token header. */
export const AUTH_HEADER = 'ServiceBusAuthorization';

/** The SAS token scheme word. */
export const SAS_SCHEME = 'SharedAccessSignature';

/** Listeners the service allows on one hybrid connection. */
export const MAX_LISTENERS_PER_HYBRID_CONNECTION = 25;

/** Lifetime of a rendezvous address, in milliseconds. */
export const RENDEZVOUS_TIMEOUT_MS = 30_000;

/** Largest HTTP body that travels over the control channel, in bytes. */
export const MAX_CONTROL_CHANNEL_BODY = 64 * 1024;

/** Largest handshake header block the service accepts, in bytes. */
export const MAX_HEADER_BYTES = 32 * 1024;

/** How long a listener has to answer an HTTP request, in milliseconds. */
export const HTTP_RESPONSE_TIMEOUT_MS = 60_000;

/** Access rights a SAS rule can grant. */
export type AccessRight = 'Listen' | 'Send' | 'Manage';
