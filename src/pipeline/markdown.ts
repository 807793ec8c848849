/** Markdown structure the loaders and the splitter share. */

/** An ATX heading line: up to three spaces, 1–6 `#`, the text, optional closing `#`s. */
export const HEADING_LINE = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;

/**
 * The non-empty ATX headings outside fenced code, in order: where the line starts, level and text. A
 * fence closes at a line of the same character (backtick or tilde) at least as long as the one that
 * opened it (CommonMark).
 */
export function* markdownHeadings(text: string): Generator<{ at: number; level: number; text: string }> {
  let fence: string | undefined;
  let at = 0;
  for (const line of text.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === undefined) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
    } else if (fence === undefined) {
      const heading = HEADING_LINE.exec(line);
      if (heading?.[2]) yield { at, level: (heading[1] as string).length, text: heading[2] };
    }
    at += line.length + 1;
  }
}
