/**
 * SAS checks as the service makes them: format, known rule, signature
 * (constant time), expiry, audience and rights.
 */
import type { AccessRight } from 'hyco-websocket/protocol';
import { parseRelayToken, resourceCovers, verifySignature } from 'hyco-websocket/protocol';
import type { AuthResult, SharedAccessRule } from './types';

export type { AuthFailure, AuthResult, AuthSuccess } from './types';

/**
 * The start of the service's answer to a badly signed token. Microsoft's
 * .NET client recognises this phrase in the status text, so every signature
 * refusal starts with it; our own explanation follows.
 */
const INVALID_SIGNATURE = 'InvalidSignature: The token has an invalid signature.';

/** What a check needs to know about the entity. */
export interface AuthTarget {
  /** `http://{host}/{path}` of the hybrid connection. */
  entityUri: string;
  /** Rules of the entity, then of the namespace. */
  rules: SharedAccessRule[];
}

function grants(rule: SharedAccessRule, right: AccessRight): boolean {
  return rule.rights.includes(right) || rule.rights.includes('Manage');
}

/** Checks `token` for `right` on `target`, at `nowSeconds`. */
export function authorize(
  token: string | undefined,
  target: AuthTarget,
  right: AccessRight,
  nowSeconds = Math.floor(Date.now() / 1000),
): AuthResult {
  if (!token) {
    return { ok: false, status: 401, reason: 'MissingToken: no ServiceBusAuthorization or Authorization header, or sb-hc-token parameter' };
  }
  let parsed;
  try {
    parsed = parseRelayToken(token);
  } catch (err) {
    return { ok: false, status: 401, reason: `MalformedToken: ${(err as Error).message}` };
  }
  const rule = target.rules.find((r) => r.name === parsed.keyName);
  // The entity by its path, as the service names it (every place that shows a reason makes it printable).
  const entity = `(entity "${target.entityUri.replace(/^[a-z]+:\/\/[^/]*\/?/i, '')}")`;
  if (!rule) return { ok: false, status: 401, reason: `${INVALID_SIGNATURE} ${entity}: the token names an unknown shared access rule` };
  // Either key of the rule signs valid tokens, as the service has it (keys are rotated one at a time).
  if (!verifySignature(parsed, rule.key) && !(rule.secondaryKey !== undefined && verifySignature(parsed, rule.secondaryKey))) {
    return { ok: false, status: 401, reason: `${INVALID_SIGNATURE} ${entity}: the token signature is not valid for its rule` };
  }
  if (parsed.expiry <= nowSeconds) {
    return { ok: false, status: 401, reason: `ExpiredToken: the token expired at ${new Date(parsed.expiry * 1000).toISOString()}` };
  }
  if (!resourceCovers(parsed.resource, target.entityUri)) {
    return { ok: false, status: 403, reason: 'InvalidAudience: the token is not for this hybrid connection' };
  }
  if (!grants(rule, right)) {
    return { ok: false, status: 403, reason: `Unauthorized: the token's rule does not grant the ${right} right` };
  }
  return { ok: true, expiry: parsed.expiry };
}
