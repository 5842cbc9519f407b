// The built-in kinds' schemas (builtin-schemas.json, generated from @kubernetes/client-node's models by
// scripts/gen-openapi.mjs), loaded once for the OpenAPI documents and for field validation (every write of a
// built-in kind is checked against them, so they are needed from the first write on).
import data from './builtin-schemas.json' with { type: 'json' };
import type { JsonObject } from '../patch.js';

export interface BuiltinSchemas {
  source: string;
  /** `<group>/<version>/<kind>` → schema name. */
  kinds: Record<string, string>;
  schemas: Record<string, JsonObject>;
}

export const builtin = data as unknown as BuiltinSchemas;

/** How the schemas refer to one another (OpenAPI v3 components). */
export const SCHEMA_REF = '#/components/schemas/';
