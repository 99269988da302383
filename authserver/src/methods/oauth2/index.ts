export { BackgroundWait, type Waited } from './background-wait.ts';
export { grantedScopes, missingScopes, tokenGrants, TokenExposureSchema, type TokenExposure } from './token-exposure.ts';
