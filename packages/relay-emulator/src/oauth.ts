/**
 * The emulator as an OAuth 2.0 token endpoint (Microsoft identity platform
 * v2 paths), so that the real `@azure/identity` `ClientSecretCredential`
 * (and `DefaultAzureCredential` through its environment variables) pointed
 * at the emulator (`authorityHost`, the emulator's tenant id) gets tokens
 * from it unchanged: the client credentials grant for registered
 * `applications`, tokens for `https://relay.azure.net/.default` signed by
 * the emulator and checked as Entra ID tokens.
 *
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration
 *   POST /{tenant}/oauth2/v2.0/token   (grant_type=client_credentials)
 *
 * And as the App Service managed identity endpoint (`IDENTITY_ENDPOINT`,
 * secret in `X-IDENTITY-HEADER`, API version 2019-08-01), so that
 * `ManagedIdentityCredential` and `DefaultAzureCredential` get tokens from
 * it unchanged:
 *
 *   GET  /$managed-identity/token?api-version=2019-08-01&resource=https://relay.azure.net
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntraAuthority } from './entra';
import { RELAY_AUDIENCE, RELAY_SCOPE } from './entra';
import { safeDebug } from './tracking';
import type { ApplicationRegistration, ResolvedManagedIdentity, ResolvedUserAssignedIdentity } from './types';

export type { ApplicationRegistration } from './types';

const debug = safeDebug('hyco-relay-emulator:oauth');

/** Lifetime of the tokens the endpoint issues, seconds. */
const TOKEN_LIFETIME = 3600;
/** The largest token request body read, bytes. */
const MAX_FORM = 16 * 1024;

/** The path of the managed identity endpoint. */
export const MANAGED_IDENTITY_PATH = '/$managed-identity/token';
/** The App Service managed identity API version it speaks. */
const MANAGED_IDENTITY_API_VERSION = '2019-08-01';

/** Whether `path` is one of the endpoint's, for the emulator's tenant. */
export function isOAuthPath(path: string, tenantId: string): boolean {
  return path === `/${tenantId}/v2.0/.well-known/openid-configuration` || path === `/${tenantId}/oauth2/v2.0/token`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(y, y);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** Answers a request to one of the endpoint's paths. `base` is the emulator's address as the client reached it. */
export async function handleOAuth(req: IncomingMessage, res: ServerResponse, path: string, base: string, entra: EntraAuthority, applications: ApplicationRegistration[]): Promise<void> {
  const tenant = entra.tenantId;
  if (path.endsWith('/openid-configuration')) {
    const authority = `${base}/${tenant}`;
    json(res, 200, {
      issuer: entra.issuer,
      token_endpoint: `${authority}/oauth2/v2.0/token`,
      authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
      end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
      jwks_uri: `${authority}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'id_token', 'token'],
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['ES256'],
      scopes_supported: [RELAY_SCOPE],
      tenant_region_scope: null,
      cloud_instance_name: 'hyco-relay-emulator',
    });
    return;
  }
  if (req.method !== 'POST') {
    json(res, 405, { error: 'invalid_request', error_description: 'The token endpoint takes POST' });
    req.resume();
    return;
  }
  let form: URLSearchParams;
  try {
    form = new URLSearchParams(await readForm(req));
  } catch {
    json(res, 400, { error: 'invalid_request', error_description: 'The request body is too large or was cut' });
    return;
  }
  let clientId = form.get('client_id') ?? '';
  let clientSecret = form.get('client_secret') ?? '';
  const authorization = req.headers.authorization;
  const basic = authorization === undefined ? undefined : /^Basic(?:\s+(.*))?$/is.exec(authorization.trim());
  if (basic) {
    const credentials = basicCredentials(basic[1] ?? '');
    if (!credentials) {
      debug('token request refused: malformed Basic credentials');
      json(res, 401, { error: 'invalid_client', error_description: 'Malformed Basic credentials: expected base64 of form-urlencoded client_id ":" client_secret (RFC 6749, section 2.3.1)' });
      return;
    }
    ({ clientId, clientSecret } = credentials);
  }
  if (form.get('grant_type') !== 'client_credentials') {
    json(res, 400, { error: 'unsupported_grant_type', error_description: 'This emulator issues tokens for the client credentials grant only' });
    return;
  }
  const app = applications.find((a) => a.clientId === clientId);
  if (!app || !sameSecret(app.clientSecret, clientSecret)) {
    debug('token request refused for client %s', clientId);
    json(res, 401, { error: 'invalid_client', error_description: 'Unknown client or wrong secret' });
    return;
  }
  const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
  if (!scopes.some((s) => s === RELAY_SCOPE || s === `${RELAY_AUDIENCE}/.default`)) {
    json(res, 400, { error: 'invalid_scope', error_description: `This emulator issues tokens for ${RELAY_SCOPE} only` });
    return;
  }
  const { token } = await entra.sign(app.objectId ?? app.clientId, TOKEN_LIFETIME, { appid: app.clientId });
  debug('token issued to client %s', clientId);
  json(res, 200, { token_type: 'Bearer', expires_in: TOKEN_LIFETIME, ext_expires_in: TOKEN_LIFETIME, access_token: token });
}

/** `application/x-www-form-urlencoded` decoding of one value (`+` is a space); undefined for a bad `%` escape or bad UTF-8. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * `client_secret_basic` credentials (RFC 6749, section 2.3.1): the client id
 * and secret are each form-urlencoded, joined with `:` and sent as HTTP Basic
 * credentials. The split is at the first colon (an encoded id has none; a
 * secret may, from clients that do not encode it), then each part is
 * decoded. Undefined when the credentials are not that: the caller answers
 * 401 invalid_client.
 */
function basicCredentials(encoded: string): { clientId: string; clientSecret: string } | undefined {
  const base64 = encoded.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return undefined;
  const text = Buffer.from(base64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = formDecode(text.slice(0, colon));
  const clientSecret = formDecode(text.slice(colon + 1));
  if (clientId === undefined || clientSecret === undefined) return undefined;
  return { clientId, clientSecret };
}

function readForm(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_FORM) {
        req.destroy();
        reject(new Error('too large'));
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('cut'));
    });
  });
}

/** An identity assigned to the app: its client id (`appid`), principal id (`oid`) and resource id. */
type AssignedIdentity = ResolvedUserAssignedIdentity;

/**
 * The query parameters that name a user-assigned identity, and what each
 * is matched with: App Service (2019-08-01) takes `client_id`,
 * `principal_id` and `mi_res_id`; `object_id` (IMDS's name for the
 * principal id) is taken as `principal_id`.
 */
const IDENTITY_SELECTORS: readonly (readonly [string, (identity: AssignedIdentity, value: string) => boolean])[] = [
  ['client_id', (a, v) => a.clientId === v],
  ['principal_id', (a, v) => a.principalId === v],
  ['object_id', (a, v) => a.principalId === v],
  // Azure resource ids are case-insensitive.
  ['mi_res_id', (a, v) => a.resourceId !== undefined && a.resourceId.toLowerCase() === v.toLowerCase()],
];

/**
 * The identity a request asks for: the system-assigned one when it names
 * none; else the one assigned identity that every parameter it gives
 * names. Undefined when there is no such identity: it is not assigned to
 * the app, and App Service gives no token for it.
 */
function requestedIdentity(query: URLSearchParams, identity: ResolvedManagedIdentity): AssignedIdentity | undefined {
  const system: AssignedIdentity = { clientId: identity.principal, principalId: identity.principal };
  const assigned: AssignedIdentity[] = [system, ...identity.userAssigned];
  let chosen: AssignedIdentity | undefined;
  for (const [name, matches] of IDENTITY_SELECTORS) {
    for (const value of query.getAll(name)) {
      if (!value) continue;
      const found = assigned.find((a) => matches(a, value));
      if (!found || (chosen && chosen !== found)) return undefined;
      chosen = found;
    }
  }
  return chosen ?? system;
}

/**
 * The App Service managed identity endpoint: a GET with the secret header,
 * the API version and the resource; a token for the system-assigned
 * identity, or for a user-assigned one of `identity.userAssigned` named by
 * `client_id`, `principal_id` (`object_id`) or `mi_res_id`. Any other
 * identity is refused with 400, as App Service refuses an identity that is
 * not assigned to the app. Errors are JSON, as the service gives them.
 */
export async function handleManagedIdentity(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  secret: string,
  entra: EntraAuthority,
  identity: ResolvedManagedIdentity | undefined,
): Promise<void> {
  req.resume();
  const fail = (status: number, error: string, description: string) => json(res, status, { error: { code: error, message: description } });
  if (!identity) return fail(404, 'NotConfigured', 'This emulator has no managed identity: start it with managedIdentity: { principal } (CLI: --managed-identity PRINCIPAL)');
  if (req.method !== 'GET') return fail(405, 'MethodNotAllowed', 'The managed identity endpoint takes GET');
  const header = req.headers['x-identity-header'];
  if (typeof header !== 'string' || !sameSecret(secret, header)) {
    debug('managed identity token refused: missing or wrong X-IDENTITY-HEADER');
    return fail(401, 'Unauthorized', 'The X-IDENTITY-HEADER header is missing or wrong (use IDENTITY_HEADER)');
  }
  if (query.get('api-version') !== MANAGED_IDENTITY_API_VERSION) return fail(400, 'BadRequest', `api-version must be ${MANAGED_IDENTITY_API_VERSION}`);
  const resource = query.get('resource') ?? '';
  if (resource !== RELAY_AUDIENCE && resource !== `${RELAY_AUDIENCE}/`) {
    return fail(400, 'invalid_resource', `This emulator issues tokens for ${RELAY_AUDIENCE} only, not "${resource.slice(0, 100)}"`);
  }
  const chosen = requestedIdentity(query, identity);
  if (!chosen) {
    debug('managed identity token refused: the identity asked for is not assigned');
    return fail(
      400,
      'IdentityNotFound',
      'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId: the identity asked for is not assigned to this app (the emulator serves its system-assigned identity and those in managedIdentity.userAssigned)',
    );
  }
  const { token, expiry } = await entra.sign(chosen.principalId, identity.lifetimeSeconds, { appid: chosen.clientId, idtyp: 'app' });
  debug('managed identity token issued');
  json(res, 200, { access_token: token, expires_on: String(expiry), resource, token_type: 'Bearer', client_id: chosen.clientId });
}
