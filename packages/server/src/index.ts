export { LongbowServer, type ListeningAddresses } from './server.ts';
export { loadConfig, ConfigError, SETTINGS, type Config } from './config/config.ts';
export { createLogger, type Logger } from './log/logger.ts';
export { ERRORS, longbowError, type ErrorCode } from './errors.ts';
