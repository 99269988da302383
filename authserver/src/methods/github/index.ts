export { GithubConfigSchema, type GithubConfig } from './config.ts';
export { githubFlow } from './github-flow.ts';
