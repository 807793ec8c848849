import type { DatasetRef } from '../../core/catalog.js';
import { InvalidArgumentError } from '../../core/errors.js';

/** DataHub refuses URNs longer than this (characters). */
export const MAX_URN_LENGTH = 512;

/**
 * Escapes one URN component: `%` first (so escaping is reversible and two names never share a URN),
 * then the characters DataHub reserves inside tuple URNs: `,`, `(`, `)` and the `␟` delimiter.
 */
export function escapeUrnPart(text: string): string {
  return text.replace(/[%,()\u241f]/g, (char) =>
    Array.from(new TextEncoder().encode(char), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(
      '',
    ),
  );
}

export type UrnSettings = { platform: string; env: string };

export const platformUrn = (settings: UrnSettings) => `urn:li:dataPlatform:${settings.platform}`;

const isControl = (char: string) => {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f;
};

function checked(urn: string, what: string, argument: string): string {
  if (urn.length > MAX_URN_LENGTH) {
    throw new InvalidArgumentError({
      argument,
      issues: [
        {
          path: 'name',
          message: `${what} makes a DataHub URN of ${urn.length} characters, over DataHub's ${MAX_URN_LENGTH}-character limit; use a shorter name`,
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

export function runUrn(id: string): string {
  return checked(`urn:li:dataProcessInstance:${escapeUrnPart(id)}`, `run id "${id}"`, 'run');
}
