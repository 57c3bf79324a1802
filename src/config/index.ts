export * from './schema';
export { ConfigError, formatIssue, formatIssues, formatPath, type ConfigIssue } from './errors';
export {
  loadConfig,
  loadConfigWithWarnings,
  parseConfigText,
  validateConfigText,
  findCluster,
  UnknownClusterError,
  defaultConfigPath,
  type LoadOptions,
  type Validated,
} from './load';
export { redactConfig, redactUrl, SECRET_KEYS } from './redact';
