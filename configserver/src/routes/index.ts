export { configRoute } from './config.ts';
export { healthRoute } from './health.ts';
