export { AuditSettingsSchema, type AuditSettings } from '../settings/audit-settings.ts';
export { AuditService } from './audit-service.ts';
export { NO_TAP, type ChannelTap, type ConnectionTap } from './record/tap.ts';
export { tapGlobalRequests } from './record/global-requests.ts';
