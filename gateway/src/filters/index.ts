export { SecurityPolicy, type ForwardingKind, type Refusal, type SecurityCeilings, type Verdict } from './security-policy.ts';
