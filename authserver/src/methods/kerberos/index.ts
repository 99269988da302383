export { KerberosConfigSchema, type KerberosConfig } from './config.ts';
export { KerberosPasswordCheck, KerberosUnavailable, type KerberosDecision } from './kerberos-password.ts';
export { principalOf, type Principal } from './principal.ts';
