/**
 * The seed of one layer's initialiser, from the build seed and the layer's name (FNV-1a). Keyed by
 * name rather than position, so a layer starts from the same weights whatever else is built.
 */
export function layerSeed(seed: number, layerName: string): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed}/${layerName}`) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
