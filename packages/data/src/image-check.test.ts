import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tf } from '@headbench/engine';
import { seededRandom } from '@headbench/stats';
import { checkImageBytes, decodeErrorReason } from './image-check.js';

const flowers = fileURLToPath(new URL('../../cli/datasets/flowers-mini', import.meta.url));
const images = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? images(path.join(dir, e.name)) : e.name.endsWith('.jpg') ? [path.join(dir, e.name)] : []));

/**
 * TensorFlow's verdict on each file and what its decoder printed, from a child process whose
 * stderr is captured (in this process libjpeg's lines would go straight to the terminal).
 */
function decodeInChild(files: readonly Uint8Array[]): { ok: boolean; printed: string[] }[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'headbench-decode-'));
  try {
    files.forEach((b, i) => fs.writeFileSync(path.join(dir, `${i}`), b));
    // tfjs-node as the engine package (which depends on it) resolves it.
    const tfjsNode = createRequire(new URL('../../engine/package.json', import.meta.url)).resolve('@tensorflow/tfjs-node');
    const script = `
      const tf = require(${JSON.stringify(tfjsNode)});
      const fs = require('fs');
      for (let i = 0; i < ${files.length}; i++) {
        process.stderr.write('@@' + i + '\\n');
        let ok = true;
        try { tf.node.decodeImage(fs.readFileSync(${JSON.stringify(dir)} + '/' + i), 3, 'int32', false).dispose(); } catch { ok = false; }
        process.stderr.write('@@' + (ok ? 'ok' : 'fail') + '\\n');
      }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
    const out: { ok: boolean; printed: string[] }[] = [];
    let printed: string[] = [];
    for (const line of r.stderr.split('\n')) {
      if (/^@@\d+$/.test(line)) printed = [];
      else if (line === '@@ok' || line === '@@fail') out.push({ ok: line === '@@ok', printed });
      else if (line && !/absl::InitializeLog|oneDNN custom operations/.test(line)) printed.push(line);
    }
    if (out.length !== files.length) throw new Error(`the decoding child answered for ${out.length} of ${files.length} files: ${r.stderr.slice(-400)}`);
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('checkImageBytes', () => {
  it('passes every flowers-mini JPEG and the encodings TensorFlow writes (progressive, grayscale, PNG)', async () => {
    const files = images(flowers);
    expect(files).toHaveLength(800);
    expect(files.filter((f) => checkImageBytes(fs.readFileSync(f)) !== undefined)).toEqual([]);
    const rgb = tf.node.decodeImage(fs.readFileSync(files[0]!), 3) as tf.Tensor3D;
    const gray = tf.tidy(() => rgb.mean(2, true).toInt()) as tf.Tensor3D;
    const encoded = [
      await tf.node.encodeJpeg(rgb, 'rgb', 90, true),
      await tf.node.encodeJpeg(gray, 'grayscale', 80),
      await tf.node.encodeJpeg(rgb, 'rgb', 95, false, true, false),
      await tf.node.encodePng(rgb),
      await tf.node.encodePng(gray, 9),
    ];
    tf.dispose([rgb, gray]);
    expect(encoded.map((b) => checkImageBytes(b))).toEqual(encoded.map(() => undefined));
  });

  it('refuses truncated and malformed files, saying why, before TensorFlow fails on them and prints', async () => {
    const jpeg = fs.readFileSync(images(flowers)[0]!);
    const png = Buffer.from(await tf.node.encodePng(tf.tidy(() => tf.randomUniform([20, 30, 3], 0, 255, 'int32')) as tf.Tensor3D));
    const flipped = Buffer.from(png);
    flipped[60] = (flipped[60] as number) ^ 0x10;
    const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
    const dqt = jpeg.indexOf(Buffer.from([0xff, 0xdb]));
    const cases: [string, Uint8Array, string | RegExp][] = [
      ['empty', new Uint8Array(0), 'the file is empty (0 bytes)'],
      ['cut in the headers', jpeg.subarray(0, dqt + 20), `truncated: the JPEG ends after ${dqt + 20} bytes, in the DQT (quantization table) segment at byte ${dqt} (an interrupted download or copy?)`],
      ['cut in the image data', jpeg.subarray(0, sos + 400), `truncated: the JPEG ends after ${(sos + 400).toLocaleString('en-US')} bytes, in its image data, without the end-of-image marker (an interrupted download or copy?)`],
      ['without its end marker', jpeg.subarray(0, jpeg.length - 2), /^truncated: .* in its image data, without the end-of-image marker/],
      ['a zeroed tail', Buffer.concat([jpeg.subarray(0, sos + 400), Buffer.alloc(jpeg.length - sos - 400)]), /^truncated: .* in its image data/],
      ['a bad table length', Buffer.concat([jpeg.subarray(0, dqt + 2), Buffer.from([0x00, 0x01]), jpeg.subarray(dqt + 4)]), `corrupt: the DQT (quantization table) segment at byte ${dqt} has length 1`],
      ['a truncated PNG', png.subarray(0, png.length - 20), /^truncated: the PNG ends after .* bytes, inside its IDAT chunk/],
      ['a PNG whose data fails its checksum', flipped, "corrupt: the PNG's IDAT chunk at byte 33 fails its checksum (CRC)"],
      ['text', Buffer.from('<html><body>Not Found</body></html>'), 'not an image but text, starting "<html><body>Not Found</body></html>" (a web page saved under an image name?)'],
      ['WebP', Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), Buffer.alloc(20)]), 'a WebP image, which TensorFlow does not decode: convert it to JPEG or PNG'],
    ];
    const verdicts = decodeInChild(cases.map(([, bytes]) => bytes));
    cases.forEach(([what, bytes, reason], i) => {
      const problem = checkImageBytes(bytes);
      if (typeof reason === 'string') expect(problem, what).toBe(reason);
      else expect(problem, what).toMatch(reason);
      expect(verdicts[i]!.ok, what).toBe(false);
    });
    // The lines this keeps off the terminal.
    expect(verdicts.slice(1, 5).map((v) => v.printed.length > 0)).toEqual([true, true, true, true]);
  });

  it('never refuses a corrupted file that TensorFlow still decodes, and refuses nearly all it cannot', () => {
    const random = seededRandom(5);
    const corrupted: Uint8Array[] = [];
    for (const file of images(flowers).filter((_, i) => i % 200 === 0)) {
      const b = fs.readFileSync(file);
      for (let k = 0; k < 40; k++) {
        const copy = Buffer.from(b);
        const at = 2 + Math.floor(random() * (b.length - 2));
        if (k % 3 === 0) corrupted.push(copy.subarray(0, at));
        else if (k % 3 === 1) corrupted.push(copy.fill(0, at));
        else {
          copy[at] = (copy[at] as number) ^ (1 + Math.floor(random() * 255));
          corrupted.push(copy);
        }
      }
    }
    const verdicts = decodeInChild(corrupted);
    const refused = corrupted.map((b) => checkImageBytes(b) !== undefined);
    expect(verdicts.filter((v, i) => v.ok && refused[i])).toHaveLength(0);
    const failing = verdicts.map((v, i) => [v.ok, refused[i]]).filter(([ok]) => !ok);
    expect(failing.length).toBeGreaterThan(60);
    expect(failing.filter(([, r]) => r).length / failing.length).toBeGreaterThan(0.9);
  });

  it('leaves what may decode to TensorFlow: trailing bytes after the end marker, GIF and BMP', () => {
    const jpeg = fs.readFileSync(images(flowers)[0]!);
    expect(checkImageBytes(Buffer.concat([jpeg, Buffer.from('trailing junk')]))).toBeUndefined();
    expect(checkImageBytes(Buffer.from('GIF89a....'))).toBeUndefined();
    expect(checkImageBytes(Buffer.from('BM....'))).toBeUndefined();
  });
});

describe('decodeErrorReason', () => {
  it("keeps TensorFlow's message without its status prefix", () => {
    expect(decodeErrorReason(new Error('Invalid TF_Status: 3\nMessage: Invalid GIF data (size 17), failed to slurp gif file'))).toBe(
      'TensorFlow cannot decode it: Invalid GIF data (size 17), failed to slurp gif file',
    );
  });
});
