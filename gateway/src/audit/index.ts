export { AuditSettingsSchema, type AuditSettings } from './audit-settings.ts';
export { AuditService } from './audit-service.ts';
export { NO_TAP, type ChannelTap, type ConnectionTap } from './tap.ts';
export { tapGlobalRequests } from './global-requests.ts';
