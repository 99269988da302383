export * from './metadata.ts';
export * from './auth.ts';
export * from './keyboard-interactive.ts';
export * from './config.ts';
export * from './kubernetes.ts';
export * from './errors.ts';
export * from './openapi.ts';
export * from './duration.ts';
