/**
 * Microsoft Entra ID tokens, as the service checks them (PROTOCOL.md,
 * "Microsoft Entra ID (keyless) tokens"): a JWT for the audience
 * `https://relay.azure.net` (with or without a trailing slash), before its
 * `exp`, after its `nbf` (five minutes of clock skew there), whose
 * principal (`oid`) holds a role on the namespace or the hybrid connection
 * (or what lies above it): Azure Relay Owner (everything), Azure Relay
 * Listener (listen), Azure Relay Sender (send).
 *
 * The emulator signs tokens with its own key (made at start) for
 * `createTokenCredential`. With `entraTokens: 'unverified'` it also takes
 * real Entra tokens (issuer `https://sts.windows.net/{tid}/` or
 * `https://login.microsoftonline.com/{tid}/v2.0`) without checking their
 * signature, for running a developer's `DefaultAzureCredential` code
 * locally: loopback only. JWTs are handled by `jose`.
 */
import { randomUUID } from 'node:crypto';
import type { AccessRight } from 'hyco-websocket/protocol';
import type { AuthResult, RelayRole, RoleAssignment } from './types';
// jose is an ES module: its types are taken as such; the code is loaded with import().
import type * as JoseModule from 'jose' with { 'resolution-mode': 'import' };
import type { JWTPayload } from 'jose' with { 'resolution-mode': 'import' };

/** The audience of Entra ID tokens for Azure Relay. */
export const RELAY_AUDIENCE = 'https://relay.azure.net';
/** The scope a TokenCredential is asked for. */
export const RELAY_SCOPE = `${RELAY_AUDIENCE}/.default`;
/**
 * Clock skew allowed on `nbf` (and `iat`), seconds: a token minted by an
 * issuer whose clock runs ahead is taken.
 *
 * Not on `exp`: a control channel lives until its token expires and is then
 * closed with 1008, so a token already past its `exp` would open a channel
 * only to have it closed at once. Such a token is refused up front (401
 * ExpiredToken), on every action and in `renewToken`, as an expired SAS
 * token is; a channel lives exactly until `exp`. Clients renew well before
 * `exp` (the Azure SDKs minutes ahead), so only a token that is really spent
 * meets this.
 */
const CLOCK_SKEW_SECONDS = 300;

export type { RelayRole, RoleAssignment } from './types';

const RIGHTS: Record<RelayRole, AccessRight[]> = {
  'Azure Relay Owner': ['Listen', 'Send', 'Manage'],
  'Azure Relay Listener': ['Listen'],
  'Azure Relay Sender': ['Send'],
};

/** A role name as Azure spells it (`Azure Relay Listener`), or short (`Listener`), any case; undefined when it is none. */
export function relayRole(name: unknown): RelayRole | undefined {
  if (typeof name !== 'string') return undefined;
  const short = name.trim().replace(/^azure\s+relay\s+/i, '').toLowerCase();
  return short === 'owner' ? 'Azure Relay Owner' : short === 'listener' ? 'Azure Relay Listener' : short === 'sender' ? 'Azure Relay Sender' : undefined;
}

/** Whether a token is a JWT (three base64url parts; a `Bearer ` prefix tolerated) rather than a SAS token. */
export function isJwt(token: string): boolean {
  return /^(Bearer\s+)?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token.trim());
}

type Jose = typeof JoseModule;
/** The key pair the emulator signs with (Web Crypto keys). */
type SigningKeys = Awaited<ReturnType<Jose['generateKeyPair']>>;
let jose: Promise<Jose> | undefined;
/** jose is an ES module: loaded once, on first use. */
function loadJose(): Promise<Jose> {
  jose ??= import('jose');
  return jose;
}

const REAL_ISSUERS = [/^https:\/\/sts\.windows\.net\/([0-9a-f-]{36})\/$/i, /^https:\/\/login\.microsoftonline\.com\/([0-9a-f-]{36})\/v2\.0$/i];

/** The emulator's identity provider: its signing key, its tenant, the role assignments. */
export class EntraAuthority {
  /** The emulator's tenant id (in its tokens' `tid` and issuer). */
  readonly tenantId = randomUUID();
  readonly assignments: RoleAssignment[];

  private constructor(
    private readonly keys: SigningKeys,
    assignments: RoleAssignment[],
    /** `unverified`: real Entra tokens are taken without a signature check. */
    readonly mode: 'emulator' | 'unverified',
  ) {
    this.assignments = [...assignments];
  }

  /** Makes the emulator's signing key (ES256). */
  static async create(assignments: RoleAssignment[], mode: 'emulator' | 'unverified'): Promise<EntraAuthority> {
    const { generateKeyPair } = await loadJose();
    const keys = await generateKeyPair('ES256');
    return new EntraAuthority(keys, assignments, mode);
  }

  /** The issuer of the emulator's own tokens (Entra ID's v2 form, with the emulator's tenant). */
  get issuer(): string {
    return `https://login.microsoftonline.com/${this.tenantId}/v2.0`;
  }

  /** Signs a token for `principal`, valid `lifetimeSeconds` from now, for `audience` (default the relay's). */
  async sign(principal: string, lifetimeSeconds: number, claims: Record<string, unknown> = {}, audience = RELAY_AUDIENCE): Promise<{ token: string; expiry: number }> {
    const { SignJWT } = await loadJose();
    const now = Math.floor(Date.now() / 1000);
    const expiry = now + lifetimeSeconds;
    const token = await new SignJWT({ oid: principal, sub: principal, tid: this.tenantId, appid: principal, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'hyco-relay-emulator' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(expiry)
      .setJti(randomUUID())
      .sign(this.keys.privateKey);
    return { token, expiry };
  }

  /** Checks a JWT for `right` on the hybrid connection `path`. Never puts the token in a reason. */
  async check(raw: string, path: string, right: AccessRight): Promise<AuthResult> {
    const token = raw.trim().replace(/^Bearer\s+/i, '');
    const j = await loadJose();
    let payload: JWTPayload;
    try {
      const claims = j.decodeJwt(token);
      if (claims.iss === this.issuer || this.mode === 'emulator') {
        ({ payload } = await j.jwtVerify(token, this.keys.publicKey, {
          issuer: this.issuer,
          audience: [RELAY_AUDIENCE, `${RELAY_AUDIENCE}/`],
          algorithms: ['ES256'],
          clockTolerance: CLOCK_SKEW_SECONDS,
          requiredClaims: ['exp', 'oid'],
        }));
      } else {
        // Unverified mode: a real Entra token, taken at its word but for its signature.
        if (typeof claims.iss !== 'string' || !REAL_ISSUERS.some((r) => r.test(claims.iss as string))) {
          return { ok: false, status: 401, reason: 'InvalidIssuer: the token was not issued by Microsoft Entra ID' };
        }
        ({ payload } = { payload: claims });
        const now = Math.floor(Date.now() / 1000);
        const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
        if (!audiences.some((a) => a === RELAY_AUDIENCE || a === `${RELAY_AUDIENCE}/`)) {
          return { ok: false, status: 401, reason: `InvalidAudience: the token is not for ${RELAY_AUDIENCE}` };
        }
        if (typeof payload.nbf === 'number' && payload.nbf - CLOCK_SKEW_SECONDS > now) return { ok: false, status: 401, reason: 'InvalidToken: the token is not valid yet' };
      }
    } catch (err) {
      return { ok: false, status: 401, reason: failureReason(err) };
    }
    // jose allowed the skew on exp as well: see CLOCK_SKEW_SECONDS for why an expired token is refused.
    if (typeof payload.exp !== 'number' || payload.exp <= Math.floor(Date.now() / 1000)) return { ok: false, status: 401, reason: 'ExpiredToken: the token has expired' };
    const principal = typeof payload.oid === 'string' ? payload.oid : undefined;
    if (!principal) return { ok: false, status: 401, reason: 'InvalidToken: the token names no principal (oid)' };
    if (!this.grants(principal, path, right)) {
      return { ok: false, status: 403, reason: `Unauthorized: the principal holds no role granting ${right} on "${path}"` };
    }
    return { ok: true, expiry: payload.exp };
  }

  /** Whether `principal` has a role granting `right` on `path` (at the namespace, the path, or above it). */
  grants(principal: string, path: string, right: AccessRight): boolean {
    const target = path.toLowerCase();
    return this.assignments.some((a) => {
      if (a.principal !== principal || !RIGHTS[a.role].includes(right)) return false;
      if (a.scope === undefined) return true;
      const scope = a.scope.toLowerCase();
      return target === scope || target.startsWith(`${scope}/`);
    });
  }
}

function failureReason(err: unknown): string {
  const code = (err as { code?: string })?.code;
  const claim = (err as { claim?: string })?.claim;
  if (code === 'ERR_JWT_EXPIRED') return 'ExpiredToken: the token has expired';
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return 'InvalidSignature: the token was not signed by this relay\'s identity provider';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud') return `InvalidAudience: the token is not for ${RELAY_AUDIENCE}`;
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iss') return 'InvalidIssuer: the token was not issued by this relay\'s identity provider';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'nbf') return 'InvalidToken: the token is not valid yet';
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return 'InvalidSignature: the token\'s algorithm is not accepted';
  return 'MalformedToken: the token is not a valid JWT';
}
