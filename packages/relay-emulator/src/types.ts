/**
 * The types that authorization (`auth`, `entra`), the identity endpoints
 * (`oauth`) and the options share. They live here, below all of those
 * files, so that none of them imports another for a type alone (no import
 * circle); each of those files re-exports the ones it is known for.
 */
import type { AccessRight } from 'hyco-websocket/protocol';

/** A shared access rule: a named key granting rights. */
export interface SharedAccessRule {
  name: string;
  /** The primary key: connection strings carry this one. */
  key: string;
  /** The secondary key: tokens signed with it are valid too (for rotating keys). */
  secondaryKey?: string;
  rights: AccessRight[];
}

export interface AuthSuccess {
  ok: true;
  /**
   * When the credential stops being valid, Unix seconds (a control channel
   * opened with it is closed then); undefined for an anonymous sender.
   */
  expiry: number | undefined;
}

export interface AuthFailure {
  ok: false;
  status: 401 | 403;
  /** What is wrong, for the status text. Never contains the token. */
  reason: string;
}

export type AuthResult = AuthSuccess | AuthFailure;

/** The Azure built-in roles for Relay data access. */
export type RelayRole = 'Azure Relay Owner' | 'Azure Relay Listener' | 'Azure Relay Sender';

/** A role given to a principal (an Entra object id), on the namespace (no scope) or a hybrid connection path. */
export interface RoleAssignment {
  principal: string;
  role: RelayRole;
  /** A hybrid connection path; the assignment covers it and what lies under it. Omitted: the whole namespace. */
  scope?: string;
}

/** An app registration: a client id and secret, and the object id its tokens carry (default: the client id). */
export interface ApplicationRegistration {
  clientId: string;
  clientSecret: string;
  objectId?: string;
}

/**
 * A user-assigned managed identity assigned to the local app, as App
 * Service knows it: asked for by `client_id`, `principal_id` (or
 * `object_id`) or `mi_res_id`.
 */
export interface UserAssignedIdentity {
  /** Its client (application) id: the `appid` of its tokens. */
  clientId: string;
  /** Its principal (object) id: the `oid` of its tokens, which role assignments name. Default: the client id. */
  principalId?: string;
  /** Its Azure resource id (`/subscriptions/.../userAssignedIdentities/{name}`), for `mi_res_id`. Optional. */
  resourceId?: string;
}

/** The emulator's managed identity. */
export interface ManagedIdentityOptions {
  /** Object id of the system-assigned identity. */
  principal: string;
  /** Each token's life, seconds. Default 3600. */
  lifetimeSeconds?: number;
  /**
   * The user-assigned identities also assigned to the app. The endpoint
   * serves these and the system-assigned one, nothing else. Default none.
   */
  userAssigned?: UserAssignedIdentity[];
}

/** A user-assigned identity with its defaults filled in. */
export interface ResolvedUserAssignedIdentity {
  clientId: string;
  principalId: string;
  resourceId?: string;
}

/** The managed identity with every default filled in. */
export interface ResolvedManagedIdentity {
  principal: string;
  lifetimeSeconds: number;
  userAssigned: ResolvedUserAssignedIdentity[];
}
