import { UnsupportedServerError } from './errors.js';

/** A release number as `[major, minor, patch]`. */
export type Release = readonly [number, number, number];

/**
 * The first `major.minor[.patch]` in a server's version string (`v2.5.4`, `1.18.0-dev`,
 * `Compatible with Milvus 2.5`), or `undefined` when there is none.
 */
export function parseRelease(version: string): Release | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

function compareReleases(a: Release, b: Release): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * Throws `UnsupportedServerError` when `version` names a release older than `minimum`. A version
 * string without a release number (a managed service's own naming) is accepted: the adapter cannot
 * tell, and the server's own errors remain.
 */
export function checkServerRelease(options: {
  server: string;
  url: string;
  version: string;
  minimum: Release;
  /** What the minimum is for, e.g. `collection metadata`. */
  needs: string;
  component: string;
}): void {
  const release = parseRelease(options.version);
  if (release === undefined || compareReleases(release, options.minimum) >= 0) return;
  throw new UnsupportedServerError({
    server: options.server,
    url: options.url,
    serverVersion: options.version,
    minimumVersion: options.minimum.join('.'),
    needs: options.needs,
    component: options.component,
  });
}
