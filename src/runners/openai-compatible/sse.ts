/**
 * A server-sent events parser for byte streams cut anywhere: inside a UTF-8 character, inside a field
 * name, between the CR and LF of a line end. Follows the WHATWG event-stream rules that matter for
 * OpenAI-compatible servers: LF, CRLF or CR line ends; `:` comment lines (keep-alives) ignored; several
 * `data:` lines of one event joined with `\n`; one space after the colon dropped; an empty line ends an
 * event; events without data are not dispatched. Runtime-neutral (TextDecoder only).
 */

export type SseEvent = {
  /** The `event:` field, when the server named the event. */
  event?: string;
  data: string;
};

export type SseParser = {
  /** Feeds bytes; returns the events completed by them, in order. */
  push(bytes: Uint8Array): SseEvent[];
  /**
   * Ends the stream; returns the last event when the server closed without its final empty line
   * (lenient, as browsers are not, because some servers end that way).
   */
  end(): SseEvent[];
};

export function createSseParser(): SseParser {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let eventName: string | undefined;

  function dispatch(events: SseEvent[]): void {
    if (data.length > 0)
      events.push({ ...(eventName === undefined ? {} : { event: eventName }), data: data.join('\n') });
    data = [];
    eventName = undefined;
  }

  function line(text: string, events: SseEvent[]): void {
    if (text === '') {
      dispatch(events);
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') eventName = value;
    // `id` and `retry` only matter for reconnecting EventSource clients.
  }

  /** Consumes every complete line of the buffer; a trailing CR waits for a possible LF unless `final`. */
  function drain(final: boolean): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const char = buffer.charCodeAt(i);
      if (char !== 10 && char !== 13) continue;
      if (char === 13) {
        if (i + 1 === buffer.length && !final) break;
        line(buffer.slice(start, i), events);
        if (buffer.charCodeAt(i + 1) === 10) i++;
      } else {
        line(buffer.slice(start, i), events);
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    return events;
  }

  return {
    push(bytes) {
      buffer += decoder.decode(bytes, { stream: true });
      return drain(false);
    },
    end() {
      buffer += decoder.decode();
      const events = drain(true);
      if (buffer !== '') line(buffer, events);
      buffer = '';
      dispatch(events);
      return events;
    },
  };
}
