/** `bufferutil` (websocket's own masking add-on, with its JavaScript fallback) ships no types. */
declare module 'bufferutil' {
  /** Masks `source` with `mask` into `output` at `offset`, `length` bytes. */
  export function mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  /** Unmasks `buffer` in place. */
  export function unmask(buffer: Buffer, mask: Buffer): void;
}
