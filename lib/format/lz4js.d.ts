// The parts of lz4js 0.2.0 we use (the package ships no types).
declare module 'lz4js' {
  export function compressBound (n: number): number
  export function compressBlock (src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array | number[]): number
  export function decompressBlock (src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number
}
