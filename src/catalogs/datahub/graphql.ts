/**
 * The only GraphQL operations the DataHub catalog sends (`POST {gms}/api/graphql`). The emulator in
 * test/helpers/datahub-gms.ts answers exactly these and refuses anything else.
 */
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

export type GraphqlEntity = {
  urn: string;
  type: string;
  properties?: {
    name?: string | null;
    description?: string | null;
    customProperties?: { key: string; value: string }[] | null;
  } | null;
};
