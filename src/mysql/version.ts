/** Version parsing lives with the dialects; re-exported here for callers that think of it by this name. */
export { parseVersion, atLeast, formatVersion, VersionParseError } from './dialect';
