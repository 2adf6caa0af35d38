// Derives the JSON Schema (draft 2020-12) of the scenario format from SCENARIO_SCHEMA.
// Run as `node dist/scenario/write-schema.js` to regenerate schema/scenario.schema.json;
// a test keeps the committed file equal to scenarioJsonSchema().

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DEFAULT_FORMAT_CONTEXT,
  FORMATS,
  SCENARIO_SCHEMA,
  type FormatContext,
  type ObjectSchema,
  type Schema,
} from './schema.js';

type Json = Record<string, unknown>;

function described(schema: Schema, out: Json): Json {
  return schema.description ? { description: schema.description, ...out } : out;
}

function objectJson(schema: ObjectSchema, ctx: FormatContext): Json {
  const properties: Json = {};
  const required: string[] = [];
  for (const [key, field] of Object.entries(schema.fields)) {
    const prop = toJsonSchema(field.schema, ctx);
    properties[key] = field.default === undefined ? prop : { ...prop, default: field.default };
    if (field.required) required.push(key);
  }
  return described(schema, {
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    additionalProperties: false,
    ...(schema.exactlyOneOf ? { oneOf: schema.exactlyOneOf.map((k) => ({ required: [k] })) } : {}),
  });
}

/** The JSON Schema equivalent of one node of the schema DSL. */
export function toJsonSchema(schema: Schema, ctx: FormatContext = DEFAULT_FORMAT_CONTEXT): Json {
  switch (schema.type) {
    case 'string':
      return described(schema, { type: 'string', ...(schema.format ? FORMATS[schema.format].json(ctx) : {}) });
    case 'integer':
      return described(schema, { type: 'integer', minimum: schema.min, maximum: schema.max });
    case 'boolean':
      return described(schema, { type: 'boolean' });
    case 'enum':
      return described(schema, { enum: [...schema.values] });
    case 'list':
      return described(schema, {
        type: 'array',
        items: toJsonSchema(schema.items, ctx),
        ...(schema.minItems ? { minItems: schema.minItems } : {}),
      });
    case 'map':
      return described(schema, {
        type: 'object',
        propertyNames: FORMATS[schema.keyFormat].json(ctx),
        additionalProperties: toJsonSchema(schema.values, ctx),
        ...(schema.minEntries ? { minProperties: schema.minEntries } : {}),
      });
    case 'object':
      return objectJson(schema, ctx);
    case 'keyed':
      // Each variant forbids the others' kind keys, so exactly one variant matches.
      return described(schema, {
        type: 'object',
        oneOf: Object.entries(schema.variants).map(([kind, variant]) => {
          const json = objectJson(variant, ctx);
          return { title: kind, ...json, required: [...new Set([kind, ...((json.required as string[]) ?? [])])] };
        }),
      });
    case 'anyOf':
      return described(schema, { anyOf: schema.options.map((o) => toJsonSchema(o, ctx)) });
  }
}

/** The JSON Schema of a scenario file. */
export function scenarioJsonSchema(ctx: FormatContext = DEFAULT_FORMAT_CONTEXT): object {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'bindlab scenario',
    ...toJsonSchema(SCENARIO_SCHEMA, ctx),
  };
}

/** The text written to schema/scenario.schema.json. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const out = resolve(root, 'schema', 'scenario.schema.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, scenarioJsonSchemaText());
  console.log(`wrote ${out}`);
}
