export { SecurityPolicy, type ForwardingKind, type Refusal, type Verdict } from './security-policy.ts';
