// @headbench/data: the images a run trains on. Image folders (listed, checked, decoded once per
// input size into the image cache), the splits they become (in memory or streamed from the cache),
// batches, and the synthetic dataset. It knows nothing of plugins or results.
export type { DatasetEvent, ImageDataset, ImageSplit, SkippedFile, SplitSource, Storage } from './dataset.js';
export { syntheticDataset, type SyntheticOptions } from './synthetic.js';
export { imageFolderDataset, listImageFolder, DEFAULT_MEMORY_BUDGET, type ImageFolderOptions } from './image-folder.js';
export { batches, batchTensors, type ImageBatch } from './batches.js';
export { MemoryRows, storeSplit } from './rows.js';
export { decodeResize, INTERPOLATIONS, type Interpolation } from './decode.js';
export { cacheRoot, imageCacheDir, listImageCache, clearImageCache, formatBytes, CACHE_VERSION, type CacheEntry } from './image-cache.js';
export { parseSize } from './size.js';
export {
  featureCacheDir,
  cachedFeatures,
  openFeatures,
  featureSplit,
  featureBatches,
  listFeatureCache,
  clearFeatureCache,
  FEATURE_CACHE_VERSION,
  type FeatureKey,
  type FeatureManifest,
  type FeatureRequest,
  type FeatureWriter,
  type CachedFeatures,
  type FeatureSplit,
  type FeatureBatch,
} from './feature-cache.js';
export { FileRows, type RowStore } from './rows.js';
