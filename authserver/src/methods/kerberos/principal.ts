/** A Kerberos principal as the authserver uses it: the full name and the name it authenticates under. */
export interface Principal {
  /** `alice@EXAMPLE.ORG`, what kinit gets. */
  readonly principal: string;
  /** `alice` for the configured realm, else the full principal: the `authenticatedUsername`. */
  readonly identity: string;
}

/**
 * Name components: letters, digits, `.`, `_`, `-`, with one `/instance` allowed. Never a leading
 * `-` (kinit would read an option) and no characters with a meaning to krb5's parser (`\`, `@`
 * inside the name, spaces). Anything else is no principal, and the login is simply refused.
 */
const PRINCIPAL = /^([A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}(?:\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127})?)(?:@([A-Za-z0-9][A-Za-z0-9._-]{0,254}))?$/;

/**
 * The principal an SSH username names: `alice` is `alice@<realm>`, `alice@OTHER.ORG` is taken
 * as written. Undefined when the username cannot be a principal.
 */
export function principalOf(sshUsername: string, realm: string): Principal | undefined {
  const match = PRINCIPAL.exec(sshUsername);
  if (!match) return undefined;
  const name = match[1]!;
  const principalRealm = match[2] ?? realm;
  return {
    principal: `${name}@${principalRealm}`,
    identity: principalRealm === realm ? name : `${name}@${principalRealm}`,
  };
}
