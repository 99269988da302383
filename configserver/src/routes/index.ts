export { configRoute } from './config.ts';
