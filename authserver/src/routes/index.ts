export { authzRoute } from './authz.ts';
export { healthRoute } from './health.ts';
export { openApiRoute } from './openapi.ts';
export { passwordRoute } from './password.ts';
export { pubkeyRoute } from './pubkey.ts';
export { keyboardInteractiveRoute } from './keyboard-interactive.ts';
