export { OidcConfigSchema, type OidcConfig } from './config.ts';
export { oidcFlow } from './oidc-flow.ts';
