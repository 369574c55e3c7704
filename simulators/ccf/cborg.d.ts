// cborg 1.x ships CommonJS with its types outside its `exports` map, which Node16 resolution does not read:
// the two functions the simulator uses, as node_modules/cborg/types/cborg.d.ts declares them.
declare module 'cborg' {
  export function decode(
    data: Uint8Array,
    options?: { tags?: ((inner: unknown) => unknown)[]; useMaps?: boolean },
  ): unknown;
  export function encode(data: unknown): Uint8Array;
}
