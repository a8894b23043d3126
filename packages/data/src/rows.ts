import fs from 'node:fs';
import type { ImageSplit, Storage } from './dataset.js';

/**
 * Fixed-size rows of decoded pixels (one image each), numbered from 0: in memory, or in a file
 * read with positional reads. A split is a list of row numbers over one store.
 */
export interface RowStore {
  readonly storage: Storage;
  readonly rowBytes: number;
  readonly rows: number;
  /** Copies row `rows[k]` to `into` at `k * rowBytes`, for every k. */
  read(rows: ArrayLike<number>, into: Uint8Array): Promise<void>;
  close(): void;
}

// Typed arrays past 2^31 bytes are slow or refused on some Node versions: memory is kept in
// chunks of whole rows of at most 1 GiB.
const CHUNK_BYTES = 2 ** 30;

/** Rows in memory, filled with `write`. */
export class MemoryRows implements RowStore {
  readonly storage = 'memory' as const;
  private readonly chunks: Uint8Array[] = [];
  private readonly rowsPerChunk: number;

  constructor(
    readonly rowBytes: number,
    readonly rows: number,
  ) {
    this.rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    for (let first = 0; first < rows; first += this.rowsPerChunk) {
      this.chunks.push(new Uint8Array(Math.min(this.rowsPerChunk, rows - first) * rowBytes));
    }
  }

  /** The bytes of row `row`, to fill or read in place. */
  row(row: number): Uint8Array {
    if (!(row >= 0 && row < this.rows)) throw new RangeError(`row ${row} is outside 0..${this.rows - 1}`);
    const chunk = this.chunks[Math.floor(row / this.rowsPerChunk)] as Uint8Array;
    const start = (row % this.rowsPerChunk) * this.rowBytes;
    return chunk.subarray(start, start + this.rowBytes);
  }

  read(rows: ArrayLike<number>, into: Uint8Array): Promise<void> {
    for (let k = 0; k < rows.length; k++) into.set(this.row(rows[k] as number), k * this.rowBytes);
    return Promise.resolve();
  }

  /** Fills every row from a file written by the cache, in large sequential reads. */
  static fromFile(file: string, rowBytes: number, rows: number): MemoryRows {
    const store = new MemoryRows(rowBytes, rows);
    const fd = fs.openSync(file, 'r');
    try {
      let position = 0;
      for (const chunk of store.chunks) {
        for (let offset = 0; offset < chunk.length; ) {
          const n = fs.readSync(fd, chunk, offset, Math.min(chunk.length - offset, 64 * 2 ** 20), position);
          if (n === 0) throw new Error(`${file} ends at byte ${position}; the cache expects ${rows * rowBytes}`);
          offset += n;
          position += n;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return store;
  }

  close(): void {
    this.chunks.length = 0;
  }
}

function readAt(fd: number, into: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.read(fd, into, offset, length, position, (error, bytesRead) => {
      if (error) reject(error);
      else if (bytesRead < length) {
        // Regular files return short reads only at their end.
        if (bytesRead === 0) reject(new Error(`the cache file ends before byte ${position + length}; it was truncated after it was written`));
        else readAt(fd, into, offset + bytesRead, length - bytesRead, position + bytesRead).then(resolve, reject);
      } else resolve();
    });
  });
}

/**
 * Rows read from a file per call: one positional read per run of consecutive rows, all in flight
 * at once on libuv's thread pool, so a batch arrives while JavaScript (or a TensorFlow session
 * run on this thread) does other work. Memory: only what the caller passes as `into`.
 */
export class FileRows implements RowStore {
  readonly storage = 'stream' as const;
  private fd: number | undefined;

  constructor(
    readonly file: string,
    readonly rowBytes: number,
    readonly rows: number,
  ) {
    this.fd = fs.openSync(file, 'r');
  }

  read(rows: ArrayLike<number>, into: Uint8Array): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return Promise.reject(new Error(`${this.file} was closed`));
    const reads: Promise<void>[] = [];
    for (let k = 0; k < rows.length; ) {
      const first = rows[k] as number;
      if (!(first >= 0 && first < this.rows)) return Promise.reject(new RangeError(`row ${first} is outside 0..${this.rows - 1}`));
      let run = 1;
      while (k + run < rows.length && rows[k + run] === first + run && first + run < this.rows) run++;
      reads.push(readAt(fd, into, k * this.rowBytes, run * this.rowBytes, first * this.rowBytes));
      k += run;
    }
    return Promise.all(reads).then(() => undefined);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A split over a store: image i is row `rows[i]`. */
export function storeSplit(
  store: RowStore,
  rows: Int32Array,
  labels: Int32Array,
  inputSize: number,
  about: { files?: readonly string[]; fingerprint?: string } = {},
): ImageSplit {
  if (rows.length !== labels.length) throw new Error(`${rows.length} rows but ${labels.length} labels`);
  if (store.rowBytes !== inputSize * inputSize * 3) throw new Error(`rows of ${store.rowBytes} bytes are not ${inputSize}x${inputSize}x3 images`);
  return {
    count: rows.length,
    inputSize,
    labels,
    storage: store.storage,
    ...(about.files ? { files: about.files } : {}),
    ...(about.fingerprint ? { fingerprint: about.fingerprint } : {}),
    async read(indices, into) {
      const out = into ?? new Uint8Array(indices.length * store.rowBytes);
      if (out.length < indices.length * store.rowBytes) throw new RangeError(`a buffer of ${out.length} bytes cannot hold ${indices.length} images of ${store.rowBytes} bytes`);
      const mapped = new Int32Array(indices.length);
      for (let k = 0; k < indices.length; k++) {
        const i = indices[k] as number;
        if (!(i >= 0 && i < rows.length)) throw new RangeError(`image ${i} is outside the split of ${rows.length}`);
        mapped[k] = rows[i] as number;
      }
      await store.read(mapped, out);
      return out;
    },
  };
}
