/** Whether `bytes` begins with the ASCII `marker`, compared byte by byte (whatever bytes follow or differ). */
export function startsWithAscii(bytes: Uint8Array, marker: string): boolean {
  if (bytes.length < marker.length) return false;
  for (let i = 0; i < marker.length; i++) if (bytes[i] !== marker.charCodeAt(i)) return false;
  return true;
}

/** `count` random bytes as hex, from the platform's Web Crypto (every runtime kumiki supports has it). */
export function randomHex(count: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
