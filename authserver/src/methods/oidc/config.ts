import { z } from 'zod';
import { DurationSchema } from '@portcullis/kit';
import { TokenExposureSchema } from '../oauth2/index.ts';

const ScopeSchema = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token (RFC 6749 §3.3)');

/**
 * `oidc:` in the authserver config: OpenID Connect over keyboard-interactive (ContainerSSH's
 * `auth.keyboardInteractive.oauth2` with `provider: oidc`, flattened).
 */
export const OidcConfigSchema = z
  .strictObject({
    /** The issuer; discovery reads `<issuer>/.well-known/openid-configuration` (ContainerSSH `url`). */
    issuer: z.url(),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    /** Device authorization grant (RFC 8628): a URL and a code shown in the SSH client. Wins when both flows are on. */
    deviceFlow: z.boolean().default(true),
    /** Authorization code grant with PKCE: a URL to open, then the code pasted back at a prompt. */
    authorizationCodeFlow: z.boolean().default(false),
    /** Where the provider sends the browser after login: a page that shows the `code` (authorization code flow). */
    redirectURI: z.url().optional(),
    /** Scopes besides `openid`. */
    extraScopes: z.array(ScopeSchema).default([]),
    /** Refuse the login when the token lacks a scope of `extraScopes` (ContainerSSH 0.6). */
    enforceScopes: z.boolean().default(false),
    /** The userinfo claim that is the authenticatedUsername (ContainerSSH `usernameField`). */
    usernameClaim: z.string().min(1).default('sub'),
    /** The SSH username must be that claim's value; false leaves the decision to /authz. */
    enforceUsername: z.boolean().default(true),
    /** The claim listing the user's groups, copied to metadata `oidc_groups` (comma-separated). */
    groupsClaim: z.string().min(1).default('groups'),
    /** The access token into the session: `{ environment: OIDC_TOKEN, file: /home/user/.oidc-token }`. */
    exposeAccessToken: TokenExposureSchema,
    /** Longest a user may take to log in at the provider. */
    timeout: DurationSchema.default(300_000),
    /** Longest one /keyboard-interactive call waits; keep it below the gateway's webhook timeout. */
    pollWindow: DurationSchema.default(3_000),
    /** Allow an `http://` issuer (tests on 127.0.0.1 only; never in production). */
    allowInsecureHttp: z.boolean().default(false),
  })
  .refine((oidc) => oidc.deviceFlow || oidc.authorizationCodeFlow, 'enable deviceFlow or authorizationCodeFlow')
  .refine((oidc) => !oidc.authorizationCodeFlow || oidc.redirectURI !== undefined, 'authorizationCodeFlow needs redirectURI');
export type OidcConfig = z.output<typeof OidcConfigSchema>;
