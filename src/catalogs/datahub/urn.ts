import type { DatasetRef } from '../../core/catalog.js';
import { InvalidArgumentError } from '../../core/errors.js';

/**
 * DataHub refuses a URN longer than this many bytes once URL-encoded (`URN_NUM_BYTES_LIMIT`,
 * metadata-utils UrnValidationUtil.java); an `ingestProposalBatch` skips such a proposal and still
 * answers 200, so kumiki checks first.
 */
export const MAX_URN_BYTES = 512;

const encoder = new TextEncoder();

/**
 * The length of `text` as `java.net.URLEncoder.encode` writes it, which is how DataHub measures
 * URNs: letters, digits and `.-*_` stay, a space becomes `+`, every other UTF-8 byte becomes `%XX`.
 */
export function urlEncodedLength(text: string): number {
  let length = 0;
  for (const byte of encoder.encode(text)) {
    const char = String.fromCharCode(byte);
    length += /[A-Za-z0-9.\-*_ ]/.test(char) ? 1 : 3;
  }
  return length;
}

/**
 * Escapes one URN component: `%` first (so escaping is reversible and two names never share a URN),
 * then the characters DataHub reserves inside tuple URNs: `,`, `(`, `)` and the `␟` delimiter.
 */
export function escapeUrnPart(text: string): string {
  return text.replace(/[%,()\u241f]/g, (char) =>
    Array.from(encoder.encode(char), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export type UrnSettings = { platform: string; env: string };

export const platformUrn = (settings: UrnSettings) => `urn:li:dataPlatform:${settings.platform}`;

const isControl = (char: string) => {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f;
};

function checked(urn: string, what: string, argument: string): string {
  const bytes = urlEncodedLength(urn);
  if (bytes > MAX_URN_BYTES) {
    throw new InvalidArgumentError({
      argument,
      issues: [
        {
          path: 'name',
          message: `${what} makes a DataHub URN of ${bytes} bytes once URL-encoded, over DataHub's ${MAX_URN_BYTES}-byte limit (non-ASCII characters count 6 to 12 bytes each); use a shorter name`,
        },
      ],
    });
  }
  if ([...urn].some(isControl)) {
    throw new InvalidArgumentError({
      argument,
      issues: [{ path: 'name', message: `${what} contains control characters, which DataHub URNs cannot hold` }],
    });
  }
  return urn;
}

/** `urn:li:dataset:(…)` for sources and collections, `urn:li:mlModel:(…)` for models. */
export function entityUrn(ref: DatasetRef, settings: UrnSettings, argument = 'dataset'): string {
  const type = ref.kind === 'model' ? 'mlModel' : 'dataset';
  return checked(
    `urn:li:${type}:(${platformUrn(settings)},${escapeUrnPart(ref.name)},${settings.env})`,
    `${ref.kind} "${ref.name}"`,
    argument,
  );
}

/**
 * `urn:li:dataProcessInstance:<id>`. Spaces at either end of the id are escaped too: DataHub skips a
 * URN that `String.trim()` would change.
 */
export function runUrn(id: string): string {
  const part = escapeUrnPart(id).replace(/^ +| +$/g, (spaces) => '%20'.repeat(spaces.length));
  return checked(`urn:li:dataProcessInstance:${part}`, `run id "${id}"`, 'run');
}
