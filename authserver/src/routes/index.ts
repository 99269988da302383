export { authzRoute } from './authz.ts';
export { passwordRoute } from './password.ts';
export { pubkeyRoute } from './pubkey.ts';
export { keyboardInteractiveRoute } from './keyboard-interactive.ts';
