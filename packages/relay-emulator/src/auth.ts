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

/**
 * Tokens whose signature checked out, by their text, with the key that
 * signed them: a token is parsed and its HMAC computed once, not on every
 * request it comes with (senders and HTTP clients reuse one token for its
 * life). Only verified tokens are kept, so nobody without a key can fill it;
 * at most VERIFIED_MAX, the oldest going first. Expiry, audience and rights
 * are still checked every time, and a key that changes is a miss.
 */
const VERIFIED_MAX = 1024;
const verified = new Map<string, { parsed: ReturnType<typeof parseRelayToken>; key: string }>();

function remember(token: string, parsed: ReturnType<typeof parseRelayToken>, key: string): void {
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
  verified.set(token, { parsed, key });
}

/** The key of `rule` that signed `parsed`, or undefined (either key signs valid tokens, as the service has it). */
function signingKey(parsed: ReturnType<typeof parseRelayToken>, rule: SharedAccessRule): string | undefined {
  if (verifySignature(parsed, rule.key)) return rule.key;
  if (rule.secondaryKey !== undefined && verifySignature(parsed, rule.secondaryKey)) return rule.secondaryKey;
  return undefined;
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
  const cached = verified.get(token);
  let parsed = cached?.parsed;
  if (!parsed) {
    try {
      parsed = parseRelayToken(token);
    } catch (err) {
      return { ok: false, status: 401, reason: `MalformedToken: ${(err as Error).message}` };
    }
  }
  const keyName = parsed.keyName;
  const rule = target.rules.find((r) => r.name === keyName);
  // The entity by its path, as the service names it (every place that shows a reason makes it printable).
  const entity = `(entity "${target.entityUri.replace(/^[a-z]+:\/\/[^/]*\/?/i, '')}")`;
  if (!rule) return { ok: false, status: 401, reason: `${INVALID_SIGNATURE} ${entity}: the token names an unknown shared access rule` };
  const known = cached !== undefined && (cached.key === rule.key || cached.key === rule.secondaryKey);
  if (!known) {
    const key = signingKey(parsed, rule);
    if (key === undefined) return { ok: false, status: 401, reason: `${INVALID_SIGNATURE} ${entity}: the token signature is not valid for its rule` };
    remember(token, parsed, key);
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
