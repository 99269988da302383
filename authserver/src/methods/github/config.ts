import { z } from 'zod';
import { DurationSchema } from '@portcullis/kit';
import { TokenExposureSchema } from '../oauth2/index.ts';

/**
 * `github:` in the authserver config: GitHub's OAuth device flow over keyboard-interactive
 * (ContainerSSH's `oauth2` with `provider: github`, flattened). GitHub Enterprise: change both URLs.
 */
export const GithubConfigSchema = z
  .strictObject({
    clientId: z.string().min(1),
    /** Not needed by the device flow; accepted so a ContainerSSH config carries over. */
    clientSecret: z.string().min(1).optional(),
    /** Web base URL (`/login/device/code`, `/login/oauth/access_token`). */
    url: z.url().default('https://github.com'),
    /** REST API base URL (`/user`, memberships). ContainerSSH calls it `apiurl`. */
    apiUrl: z.url().default('https://api.github.com'),
    /** The SSH username must be the GitHub login (ContainerSSH's default); false leaves it to /authz. */
    enforceUsername: z.boolean().default(true),
    /** The user must be an active member of this organisation (asks for `read:org`). */
    requireOrgMembership: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,39}$/, 'an organisation login')
      .optional(),
    /** Team slugs of that organisation; the user must be an active member of at least one. */
    requireTeamMembership: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a team slug')).default([]),
    /** Refuse accounts without two-factor authentication. */
    require2FA: z.boolean().default(false),
    extraScopes: z.array(z.string().regex(/^[a-z:_]{1,64}$/, 'a GitHub scope, e.g. "read:org"')).default([]),
    /** Refuse the login when the token lacks a scope that was asked for. */
    enforceScopes: z.boolean().default(false),
    /** The token into the session: `{ environment: GITHUB_TOKEN }` makes `gh` work at once. */
    exposeAccessToken: TokenExposureSchema,
    timeout: DurationSchema.default(300_000),
    pollWindow: DurationSchema.default(3_000),
  })
  .refine((github) => github.requireTeamMembership.length === 0 || github.requireOrgMembership !== undefined, 'requireTeamMembership needs requireOrgMembership');
export type GithubConfig = z.output<typeof GithubConfigSchema>;
