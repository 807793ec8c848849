/**
 * The only GraphQL operations the DataHub catalog sends (`POST {gms}/api/graphql`). The emulator in
 * test/helpers/datahub-gms.ts validates every query and its variables against DataHub's own schema
 * (../shared/contracts/datahub-graphql) and executes them there.
 */
import type { DatasetRef } from '../../core/catalog.js';

const FRAGMENTS = `
  urn
  type
  ... on Dataset { properties { name description customProperties { key value } } }
  ... on MLModel { properties { description customProperties { key value } } }
  ... on DataProcessInstance { properties { name customProperties { key value } } }`;

export const ENTITIES_QUERY = `query kumikiEntities($urns: [String!]!) {
  entities(urns: $urns) {${FRAGMENTS}
  }
}`;

export const SEARCH_QUERY = `query kumikiSearch($input: SearchAcrossEntitiesInput!) {
  searchAcrossEntities(input: $input) {
    total
    searchResults {
      entity {${FRAGMENTS}
      }
    }
  }
}`;

/** Every document the adapter sends. */
export const GRAPHQL_DOCUMENTS = [ENTITIES_QUERY, SEARCH_QUERY] as const;

/** DataHub's `EntityType` values for kumiki's kinds (the enum spells ML models `MLMODEL`). */
const ENTITY_TYPES: Record<DatasetRef['kind'], 'DATASET' | 'MLMODEL'> = {
  source: 'DATASET',
  collection: 'DATASET',
  model: 'MLMODEL',
};

/** The variables of `SEARCH_QUERY` for a search of `kind` (all kinds when undefined). */
export function searchVariables(text: string, kind: DatasetRef['kind'] | undefined, limit: number) {
  return {
    input: {
      types: kind === undefined ? ['DATASET', 'MLMODEL'] : [ENTITY_TYPES[kind]],
      query: text.trim() === '' ? '*' : text,
      start: 0,
      count: Math.min(Math.max(limit * 5, 100), 1000),
    },
  };
}

export type GraphqlEntity = {
  urn: string;
  type: string;
  properties?: {
    name?: string | null;
    description?: string | null;
    customProperties?: { key: string; value: string }[] | null;
  } | null;
};
