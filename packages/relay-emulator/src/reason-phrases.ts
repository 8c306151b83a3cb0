/**
 * The reason phrases Microsoft's .NET client (`Microsoft.Azure.Relay`) and
 * its integration tests look for in the service's status texts
 * (PROTOCOL.md, "What the .NET client relies on"). Each of the relay's
 * answers of that kind starts with the service's phrase, then our stable
 * code in parentheses and our own explanation; `statusText` adds the
 * tracking id, with the path beside it.
 */

/** Every 404 for a path that leads nowhere starts with this. */
export const ENDPOINT_NOT_FOUND = 'Endpoint does not exist';

/** The 404 for a sender none of whose allowed listeners is online starts with this. */
export const NO_ALLOWED_LISTENER = 'None of the connected listeners meet the AllowedListeners/DisallowedListeners criteria';

/** `Endpoint does not exist ({code}): {why}` (`code`: EntityNotFound, EndpointNotFound, NamespaceNotFound, NotFound). */
export function endpointNotFound(code: string, why: string): string {
  return `${ENDPOINT_NOT_FOUND} (${code}): ${why}`;
}

/** The 404 when none of the listeners a sender allowed (and did not disallow) is online. */
export function noAllowedListener(path: string): string {
  return `${NO_ALLOWED_LISTENER} (EndpointNotFound): no listener the sender allowed is online for "${path}"`;
}

/** What a user does about a hybrid connection that does not exist. */
export function createItHint(autoCreate: boolean): string {
  return autoCreate ? 'a listener creates it when it first listens' : 'create it with --hybrid-connection or --auto-create';
}
