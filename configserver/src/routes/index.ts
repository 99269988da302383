export { configRoute } from './config.ts';
export { healthRoute } from './health.ts';
export { openApiRoute } from './openapi.ts';
