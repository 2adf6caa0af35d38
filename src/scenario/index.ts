// The scenario format: types, loading with positioned errors, and its schema.
export * from './types.js';
export { loadScenarioFile, parseScenario, DEFAULT_LINK, type LoadOptions } from './load.js';
export {
  SCENARIO_SCHEMA,
  FORMATS,
  parseDuration,
  parsePortRange,
  parseSource,
  validateTree,
  type FormatContext,
  type Schema,
} from './schema.js';
export { scenarioJsonSchema, scenarioJsonSchemaText, toJsonSchema } from './write-schema.js';
