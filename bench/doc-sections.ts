/**
 * How a full `npm run bench` rewrites docs/benchmarks.md without losing what people wrote there: a
 * `## ` section carrying the `KEPT` marker (an analysis, the bars of an issue) is kept, after the
 * section it followed before. Unmarked sections are the benchmarks' own and are replaced.
 */

/** The line that marks a hand-written section of docs/benchmarks.md (put it under the heading). */
export const KEPT = '<!-- hand-written: kept by `npm run bench`; check its figures against the tables -->';

/** `## ` sections of a Markdown text (the text before the first one is left out). */
function sectionsOf(text: string): string[] {
  return text
    .split(/^(?=## )/m)
    .filter((part) => part.startsWith('## '))
    .map((part) => part.trimEnd());
}

const headingOf = (section: string): string => section.split('\n', 1)[0]?.trim() ?? '';

/**
 * `generated` (the sections a run printed, in order) with the marked sections of `previous` (the doc
 * as it was) put back, each after the last generated section before it in `previous`, or first when
 * there is none or it is not printed any more. Returns the sections and the headings kept.
 */
export function keepHandWritten(
  previous: string,
  generated: readonly string[],
): { sections: string[]; kept: string[] } {
  const printed = new Set(generated.map(headingOf));
  const after = new Map<string | undefined, string[]>();
  const kept: string[] = [];
  let anchor: string | undefined;
  for (const section of sectionsOf(previous)) {
    const heading = headingOf(section);
    if (!section.includes(KEPT)) {
      anchor = printed.has(heading) ? heading : anchor;
      continue;
    }
    after.set(anchor, [...(after.get(anchor) ?? []), section]);
    kept.push(heading);
  }
  const sections = [...(after.get(undefined) ?? [])];
  for (const section of generated) sections.push(section, ...(after.get(headingOf(section)) ?? []));
  return { sections, kept };
}
