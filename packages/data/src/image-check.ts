import zlib from 'node:zlib';

// Checked before TensorFlow decodes a file. TensorFlow's JPEG decoder (libjpeg inside the
// DecodeImage op) prints its complaints about a broken file straight to the process's stderr
// ("Input file read error", "Premature end of JPEG data", ...), where no caller can catch them
// or say which file they mean. A file this check refuses never reaches TensorFlow; a file it
// passes may still fail there, and TensorFlow's error is reported then. The check only refuses
// what libjpeg and libpng certainly refuse (a truncated file, a malformed header, a wrong
// checksum), never what they would warn about and decode, so no decodable image is skipped.

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const bytes = (n: number) => `${n.toLocaleString('en-US')} byte${n === 1 ? '' : 's'}`;

function startsWith(b: Uint8Array, prefix: readonly number[], at = 0): boolean {
  return prefix.every((v, i) => b[at + i] === v);
}

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));

const MARKERS: Record<number, string> = { 0xc4: 'DHT (Huffman table)', 0xda: 'SOS (start of scan)', 0xdb: 'DQT (quantization table)', 0xdd: 'DRI (restart interval)' };
const markerName = (m: number) => MARKERS[m] ?? (m >= 0xc0 && m <= 0xcf ? `SOF (frame header, ${hex(m)})` : m >= 0xe0 && m <= 0xef ? `APP${m - 0xe0}` : m === 0xfe ? 'COM (comment)' : hex(m));

interface Frame {
  sof: number;
  /** id -> quantization table, in frame order. */
  components: Map<number, { quant: number }>;
}

/**
 * Why libjpeg refuses a Huffman table as a scan starts (jpeg_make_d_derived_tbl), or undefined.
 * A table that is not defined is no problem: libjpeg has the standard ones for Motion JPEG.
 */
function huffmanProblem(index: number, table: { counts: Uint8Array; values: Uint8Array } | undefined): string | undefined {
  if (!table) return undefined;
  // Canonical codes: after the codes of each length the next code must still fit in that many
  // bits (no code may be all ones).
  let code = 0;
  for (let length = 1; length <= 16; length++) {
    code += table.counts[length - 1] as number;
    if (code >= 2 ** length) return 'has more codes than fit their lengths';
    code *= 2;
  }
  if (index < 0x10 && table.values.some((v) => v > 15)) return 'has a DC symbol above 15';
  return undefined;
}

/** The first problem that makes libjpeg fail on this JPEG, or undefined. Mirrors libjpeg's jdmarker.c. */
function checkJpeg(b: Uint8Array): string | undefined {
  const n = b.length;
  const truncated = (where: string) => `truncated: the JPEG ends after ${bytes(n)}, ${where} (an interrupted download or copy?)`;
  let frame: Frame | undefined;
  const quantTables = new Set<number>();
  // Huffman tables by class and index (0x00-0x03 DC, 0x10-0x13 AC): their code counts and values.
  const huffman = new Map<number, { counts: Uint8Array; values: Uint8Array }>();
  let scans = 0;
  // A baseline file with one scan of all components is decoded as its bytes arrive: libjpeg
  // reads nothing after that scan's data. A progressive or multi-scan file is read to its end
  // (EOI) before any pixel comes out.
  let multiScan = false;
  let i = 2;
  for (;;) {
    // As libjpeg's next_marker: skip stray bytes (with a warning) and fill bytes; 0xff 0x00 is no marker.
    for (;;) {
      while (i < n && b[i] !== 0xff) i++;
      while (i < n && b[i] === 0xff) i++;
      if (i >= n || b[i] !== 0x00) break;
      i += 1;
    }
    if (i >= n) return truncated(scans ? 'after its image data, without the end-of-image marker' : 'in its headers, before any image data');
    const marker = b[i] as number;
    const at = i - 1;
    i += 1;
    if (marker === 0xd9) return scans ? undefined : 'corrupt: the JPEG ends (end-of-image marker) before any image data';
    if (marker === 0xd8) return `corrupt: a second start-of-image marker at byte ${at}`;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (i + 2 > n) return truncated(`in the ${markerName(marker)} segment at byte ${at}`);
    const length = ((b[i] as number) << 8) | (b[i + 1] as number);
    if (length < 2) {
      // libjpeg refuses it in the segments it reads and skips nothing in the others.
      if (marker === 0xdb || marker === 0xc4 || marker === 0xda || marker === 0xdd || (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc8 && marker !== 0xcc)) {
        return `corrupt: the ${markerName(marker)} segment at byte ${at} has length ${length}`;
      }
      i += 2;
      continue;
    }
    if (i + length > n) return truncated(`in the ${markerName(marker)} segment at byte ${at}`);
    const seg = b.subarray(i + 2, i + length);
    const bad = (what: string) => `corrupt: the ${markerName(marker)} segment at byte ${at} ${what}`;
    if (marker === 0xdb) {
      let k = 0;
      while (k < seg.length) {
        const table = (seg[k] as number) & 0x0f;
        if (table > 3) return bad(`defines table ${table}; JPEG has tables 0-3`);
        k += 1 + ((seg[k] as number) >> 4 ? 128 : 64);
        quantTables.add(table);
      }
      if (k !== seg.length) return bad('is not a whole number of tables');
    } else if (marker === 0xc4) {
      let k = 0;
      while (seg.length - k > 16) {
        const index = seg[k] as number;
        if ((index & 0x0f) > 3 || index >> 4 > 1) return bad(`defines table ${hex(index)}`);
        const counts = seg.subarray(k + 1, k + 17);
        const count = counts.reduce((sum, c) => sum + c, 0);
        k += 17;
        if (count > 256 || count > seg.length - k) return bad('is malformed (its code counts do not fit)');
        huffman.set(index, { counts, values: seg.subarray(k, k + count) });
        k += count;
      }
      if (k !== seg.length) return bad('is not a whole number of tables');
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame) return bad('is a second frame header');
      const count = seg[5] ?? 0;
      if (seg.length !== 6 + 3 * count) return bad(`has length ${length} for ${count} components`);
      const height = ((seg[1] ?? 0) << 8) | (seg[2] ?? 0);
      const width = ((seg[3] ?? 0) << 8) | (seg[4] ?? 0);
      if (height === 0 || width === 0 || count === 0) return bad(`gives an empty image (${width}x${height}, ${count} components)`);
      frame = { sof: marker, components: new Map() };
      for (let c = 0; c < count; c++) {
        const sampling = seg[7 + 3 * c] as number;
        const [h, v] = [sampling >> 4, sampling & 0x0f];
        if (h < 1 || h > 4 || v < 1 || v > 4) return bad(`gives component ${c} sampling factors ${h}x${v}`);
        frame.components.set(seg[6 + 3 * c] as number, { quant: seg[8 + 3 * c] as number });
      }
    } else if (marker === 0xdd) {
      if (seg.length !== 2) return bad(`has length ${length}; expected 4`);
    } else if (marker === 0xda) {
      if (!frame) return `corrupt: image data (SOS at byte ${at}) before the frame header`;
      const count = seg[0] ?? 0;
      if (count < 1 || count > 4 || seg.length !== 4 + 2 * count) return bad(`has length ${length} for ${count} components`);
      const progressive = frame.sof === 0xc2 || frame.sof === 0xca;
      const [spectralStart, approximation] = [seg[1 + 2 * count] as number, (seg[3 + 2 * count] as number) >> 4];
      for (let c = 0; c < count; c++) {
        const component = frame.components.get(seg[1 + 2 * c] as number);
        if (component === undefined) return bad(`names component ${seg[1 + 2 * c]}, which the frame header does not have`);
        if (!quantTables.has(component.quant)) return `corrupt: the JPEG uses quantization table ${component.quant}, which it does not define`;
        // libjpeg builds the scan's Huffman tables as it starts it, and fails on a malformed one.
        const tables = seg[2 + 2 * c] as number;
        const used = [
          ...(!progressive || (spectralStart === 0 && approximation === 0) ? [tables >> 4] : []),
          ...(!progressive || spectralStart > 0 ? [0x10 | (tables & 0x0f)] : []),
        ];
        for (const index of used) {
          const problem = huffmanProblem(index, huffman.get(index));
          if (problem) return `corrupt: the JPEG's Huffman table ${hex(index)} ${problem}`;
        }
      }
      if (scans === 0) multiScan = frame.sof === 0xc2 || frame.sof === 0xca || count < frame.components.size;
      // The entropy-coded data runs to the next marker: 0xff followed by neither 0x00 (a
      // stuffed byte) nor a restart marker.
      let k = i + length;
      let end: number | undefined;
      for (;;) {
        k = b.indexOf(0xff, k);
        if (k < 0 || k + 1 >= n) break;
        const next = b[k + 1] as number;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) k += 1;
        else {
          end = k;
          break;
        }
      }
      scans += 1;
      if (end === undefined) {
        // libjpeg's bit reader reads ahead of the codes it decodes and fails at the end of the
        // bytes, unless it stops at a marker first; a last byte 0xff may start one (the end
        // marker cut in half), and then TensorFlow decides.
        if (!multiScan && b[n - 1] === 0xff) return undefined;
        return truncated(`in its image data${multiScan ? ` (scan ${scans})` : ''}, without the end-of-image marker`);
      }
      if (!multiScan) return undefined;
      i = end;
      continue;
    }
    i += length;
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The first problem that makes libpng fail on this PNG, or undefined. */
function checkPng(b: Uint8Array): string | undefined {
  const n = b.length;
  if (!startsWith(b, PNG_SIGNATURE)) return 'corrupt: the PNG signature is damaged';
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 8;
  let last: string | undefined;
  let images = 0;
  for (;;) {
    if (i + 8 > n) return `truncated: the PNG ends after ${bytes(n)}${last ? `, after its ${last} chunk` : ''}, without the IEND chunk (an interrupted download or copy?)`;
    const length = view.getUint32(i);
    const type = ascii(b, i + 4, i + 8);
    if (!/^[A-Za-z]{4}$/.test(type)) return `corrupt: the PNG has no valid chunk at byte ${i}`;
    if (i + 12 + length > n) return `truncated: the PNG ends after ${bytes(n)}, inside its ${type} chunk (an interrupted download or copy?)`;
    if (last === undefined && type !== 'IHDR') return `corrupt: the PNG starts with a ${type} chunk, not its IHDR header`;
    // libpng fails on a wrong checksum of a critical chunk (upper-case first letter) and only warns for others.
    const critical = type.charCodeAt(0) < 0x61;
    if (critical && zlib.crc32(b.subarray(i + 4, i + 8 + length)) !== view.getUint32(i + 8 + length)) {
      return `corrupt: the PNG's ${type} chunk at byte ${i} fails its checksum (CRC)`;
    }
    if (type === 'IHDR' && (length !== 13 || view.getUint32(i + 8) === 0 || view.getUint32(i + 12) === 0)) return 'corrupt: the PNG header (IHDR) gives an empty or malformed image';
    if (type === 'IDAT') images += 1;
    if (type === 'IEND') return images ? undefined : 'corrupt: the PNG has no image data (IDAT chunk)';
    last = type;
    i += 12 + length;
  }
}

/** Names what a file that is not a JPEG, PNG, GIF or BMP is, from its first bytes. */
function notAnImage(b: Uint8Array): string {
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && ascii(b, 8, 12) === 'WEBP') return 'a WebP image, which TensorFlow does not decode: convert it to JPEG or PNG';
  if (ascii(b, 4, 8) === 'ftyp') return `a ${ascii(b, 8, 12).trim() || 'ISO media'} file (HEIF/AVIF/MP4), which TensorFlow does not decode: convert it to JPEG or PNG`;
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'a TIFF image, which TensorFlow does not decode: convert it to JPEG or PNG';
  const head = b.subarray(0, 40);
  if (head.every((c) => c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c < 0x7f))) {
    const text = `${ascii(head, 0, head.length).replace(/\s+/g, ' ').trim()}${b.length > head.length ? '...' : ''}`;
    return `not an image but text, starting "${text}"${/^<(!doctype|html|\?xml)/i.test(text) ? ' (a web page saved under an image name?)' : ''}`;
  }
  return `not a JPEG, PNG, GIF or BMP file (it starts with bytes ${Array.from(b.subarray(0, 4), (c) => c.toString(16).padStart(2, '0')).join(' ')})`;
}

/**
 * Why an image file's bytes cannot decode, or undefined when they may (TensorFlow decides then).
 * Recognises files as TensorFlow's DecodeImage does, by their first bytes.
 */
export function checkImageBytes(b: Uint8Array): string | undefined {
  if (b.length === 0) return 'the file is empty (0 bytes)';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return checkJpeg(b);
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47])) return checkPng(b);
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38]) || startsWith(b, [0x42, 0x4d])) return undefined;
  return notAnImage(b);
}

/** TensorFlow's decode error without its status prefix ("Invalid TF_Status: 3\nMessage: ..."). */
export function decodeErrorReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const text = /Message: (.*)/s.exec(message)?.[1] ?? message;
  return `TensorFlow cannot decode it: ${text.split('\n').filter(Boolean).join(' ').trim() || 'decode failed'}`;
}
