import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@mlaan/core';
import { encode } from 'jpeg-js';
import { readJpegSize } from './jpeg-header.js';

function jpeg(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4, 128);
  return encode({ data, width, height }, 80).data;
}

describe('readJpegSize', () => {
  it('reads the frame header without decoding', () => {
    expect(readJpegSize(jpeg(37, 21))).toEqual({ height: 21, width: 37 });
    expect(readJpegSize(jpeg(500, 375))).toEqual({ height: 375, width: 500 });
  });

  it('skips fill bytes before a marker', () => {
    const bytes = jpeg(12, 9);
    const filled = Buffer.concat([bytes.subarray(0, 2), Buffer.from([0xff, 0xff]), bytes.subarray(2)]);
    expect(readJpegSize(filled)).toEqual({ height: 9, width: 12 });
  });

  it('says why a file has no readable size', () => {
    const bytes = jpeg(40, 30);
    const frame = bytes.findIndex((byte, i) => byte === 0xff && bytes[i + 1] === 0xc0);
    expect(readJpegSize(bytes.subarray(0, frame + 4))).toMatch(/truncated: it ends after \d+ bytes, before its frame header/);
    expect(readJpegSize(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toMatch(/no JPEG start-of-image/);
    expect(readJpegSize(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toMatch(/ends \(EOI\) before its frame header/);
    const broken = Buffer.from(bytes);
    broken[2] = 0x12;
    expect(readJpegSize(broken)).toMatch(/broken marker at byte 2/);
  });

  it('never throws on random bytes after a JPEG start', () => {
    const random = new SeededRandom(5);
    for (let trial = 0; trial < 200; trial++) {
      const bytes = Uint8Array.from({ length: 2 + random.int(64) }, () => random.int(256));
      bytes[0] = 0xff;
      bytes[1] = 0xd8;
      const size = readJpegSize(bytes);
      if (typeof size !== 'string') expect(size.height * size.width).toBeGreaterThan(0);
    }
  });
});
