/**
 * A local HTTP server that checks every request against Qdrant's published OpenAPI description
 * (../shared/contracts/qdrant-openapi-v1.18.json) strictly — unknown or missing fields, wrong types,
 * unknown query parameters and unknown routes are violations — and checks every answer against the
 * response schema of the same document. Answers come from a handler (the emulator, or a test's
 * canned reply).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export const QDRANT_OPENAPI_PATH = fileURLToPath(
  new URL('../../../shared/contracts/qdrant-openapi-v1.18.json', import.meta.url),
);

type JsonSchema = Record<string, unknown>;
type OpenApiOperation = {
  operationId: string;
  parameters?: { name: string; in: 'path' | 'query'; required?: boolean; schema: JsonSchema }[];
  requestBody?: { required?: boolean; content: { 'application/json'?: { schema: JsonSchema } } };
  responses: Record<string, { content?: { 'application/json'?: { schema: JsonSchema } } }>;
};
type OpenApiDocument = {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
};

export type ContractRequest = {
  method: string;
  path: string;
  operationId: string;
  pathParams: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** The request's `api-key` header, if any. */
  apiKey?: string;
};
export type ContractReply = { status: number; body?: unknown; headers?: Record<string, string> };
export type ContractHandler = (request: ContractRequest) => ContractReply | Promise<ContractReply>;

const ANNOTATIONS = new Set(['example', 'examples', 'description', 'title']);
const NUMBER_FORMATS = ['float', 'double', 'uint', 'uint8', 'uint32', 'uint64', 'int64'];

/**
 * OpenAPI 3.0 schema → JSON Schema for ajv: `nullable` becomes a `null` type, `$ref`s point into one
 * shared document, annotations go, and every object schema that lists properties without saying
 * otherwise gets `additionalProperties: false`, so unknown fields are errors.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (typeof node !== 'object' || node === null) return node;
  const source = node as JsonSchema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(source)) {
    if (ANNOTATIONS.has(key) || key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string')
      out.$ref = value.replace('#/components/schemas/', 'qdrant#/definitions/');
    else if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([name, schema]) => [name, toJsonSchema(schema)]),
      );
    } else out[key] = toJsonSchema(value);
  }
  if (source.nullable === true) {
    if (source.type === undefined && source.$ref === undefined && source.anyOf === undefined) return { type: 'null' };
    if (typeof source.type === 'string') out.type = [source.type, 'null'];
    if (Array.isArray(source.enum)) out.enum = [...source.enum, null];
  }
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

export type QdrantContract = {
  /** Finds the operation and validates method, path, query and body; returns the violations. */
  checkRequest(method: string, url: string, body: unknown): { request?: ContractRequest; violations: string[] };
  /** Validates an answer against the operation's response schema for its status. */
  checkResponse(request: ContractRequest, status: number, body: unknown): string[];
};

/** Loads the OpenAPI document; a missing file fails with a message naming its path. */
export function loadQdrantContract(path = QDRANT_OPENAPI_PATH): QdrantContract {
  if (!existsSync(path)) {
    throw new Error(
      `Qdrant's OpenAPI description is missing at ${path}; the contract tests need ../shared/contracts/qdrant-openapi-v1.18.json (see ../shared/README.md).`,
    );
  }
  const document = JSON.parse(readFileSync(path, 'utf8')) as OpenApiDocument;
  const ajv = new Ajv({ strict: false, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  for (const format of NUMBER_FORMATS) ajv.addFormat(format, { type: 'number', validate: () => true });
  ajv.addFormat('partial-date-time', true);
  ajv.addSchema({ $id: 'qdrant', definitions: toJsonSchema(document.components.schemas) });

  type Route = {
    method: string;
    template: string;
    pattern: RegExp;
    names: string[];
    operation: OpenApiOperation;
    query: ValidateFunction;
    body: ValidateFunction | undefined;
    responses: Map<string, ValidateFunction>;
  };
  const routes: Route[] = [];
  for (const [template, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const names: string[] = [];
      const pattern = new RegExp(
        `^${template.replace(/\{([^}]+)\}/g, (_, name: string) => {
          names.push(name);
          return '([^/]+)';
        })}$`,
      );
      const queryParameters = (operation.parameters ?? []).filter((parameter) => parameter.in === 'query');
      const query = ajv.compile({
        type: 'object',
        properties: Object.fromEntries(queryParameters.map((p) => [p.name, toJsonSchema(p.schema)])),
        required: queryParameters.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false,
      });
      const bodySchema = operation.requestBody?.content['application/json']?.schema;
      const responses = new Map<string, ValidateFunction>();
      for (const [status, response] of Object.entries(operation.responses)) {
        const schema = response.content?.['application/json']?.schema;
        if (schema) responses.set(status, ajv.compile(toJsonSchema(schema) as JsonSchema));
      }
      routes.push({
        method: method.toUpperCase(),
        template,
        pattern,
        names,
        operation,
        query,
        body: bodySchema ? ajv.compile(toJsonSchema(bodySchema) as JsonSchema) : undefined,
        responses,
      });
    }
  }
  // Literal paths (/collections/aliases) before templates (/collections/{collection_name}).
  routes.sort((a, b) => a.names.length - b.names.length);
  const byOperation = new Map(routes.map((route) => [route.operation.operationId, route]));
  const describeErrors = (what: string, validate: ValidateFunction) =>
    (validate.errors ?? []).map(
      (error) => `${what}${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`,
    );

  return {
    checkRequest(method, url, body) {
      const parsed = new URL(url, 'http://contract');
      const route = routes.find((r) => r.method === method && r.pattern.test(parsed.pathname));
      if (!route) return { violations: [`${method} ${parsed.pathname}: no such operation in the OpenAPI document`] };
      const match = route.pattern.exec(parsed.pathname) as RegExpExecArray;
      const pathParams = Object.fromEntries(
        route.names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]),
      );
      const query: Record<string, unknown> = {};
      for (const [key, value] of parsed.searchParams) {
        try {
          query[key] = JSON.parse(value);
        } catch {
          query[key] = value;
        }
      }
      const where = `${method} ${route.template}`;
      const violations: string[] = [];
      if (!route.query(query)) violations.push(...describeErrors(`${where} query`, route.query));
      if (route.body) {
        if (body === undefined) {
          if (route.operation.requestBody?.required) violations.push(`${where}: the request body is required`);
        } else if (!route.body(body)) violations.push(...describeErrors(`${where} body`, route.body));
      } else if (body !== undefined) violations.push(`${where}: takes no request body`);
      return {
        request: { method, path: parsed.pathname, operationId: route.operation.operationId, pathParams, query, body },
        violations,
      };
    },
    checkResponse(request, status, body) {
      const route = byOperation.get(request.operationId);
      const validate =
        route?.responses.get(String(status)) ??
        (status >= 400 && status < 500 ? route?.responses.get('4XX') : undefined) ??
        route?.responses.get('default');
      if (!validate) return [`${request.operationId}: no response schema for status ${status}`];
      return validate(body) ? [] : describeErrors(`${request.operationId} response ${status}`, validate);
    },
  };
}

export type ContractServer = {
  url: string;
  /** Every request that reached the server, in order. */
  requests: ContractRequest[];
  /** Requests and responses that broke the contract; tests assert this stays empty. */
  violations: string[];
  /** Answers before the handler (a canned answer, a failure, a delay); `undefined` passes the request on. */
  intercept: ((request: ContractRequest) => ContractReply | undefined | Promise<ContractReply | undefined>) | undefined;
  close(): Promise<void>;
};

export async function startContractServer(contract: QdrantContract, handler: ContractHandler): Promise<ContractServer> {
  const state: ContractServer = {
    url: '',
    requests: [],
    violations: [],
    intercept: undefined,
    close: () => Promise.resolve(),
  };
  const send = (response: ServerResponse, reply: ContractReply) => {
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    response.end(text);
  };
  const server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          state.violations.push(`${incoming.method} ${incoming.url}: the body is not JSON`);
        }
      }
      const { request, violations } = contract.checkRequest(incoming.method ?? 'GET', incoming.url ?? '/', body);
      state.violations.push(...violations);
      if (!request || violations.length > 0) {
        send(response, { status: 422, body: { status: { error: violations.join('; ') }, time: 0 } });
        return;
      }
      const apiKey = incoming.headers['api-key'];
      if (typeof apiKey === 'string') request.apiKey = apiKey;
      state.requests.push(request);
      let reply: ContractReply;
      try {
        reply = (await state.intercept?.(request)) ?? (await handler(request));
      } catch (error) {
        state.violations.push(`${request.operationId}: handler failed: ${String(error)}`);
        reply = { status: 500, body: { status: { error: String(error) }, time: 0 } };
      }
      state.violations.push(...contract.checkResponse(request, reply.status, reply.body));
      send(response, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return state;
}
