import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@mlaan/core';
import { temporaryFolder } from './fixtures.js';
import { imageNetLikeJpeg, writeImageNetLikeFolder } from './imagenet-like.js';

describe('ImageNet-like JPEG folders', () => {
  const root = temporaryFolder();

  it('are the same bytes for the same seed, and differ for another', () => {
    const a = imageNetLikeJpeg(64, 48, new SeededRandom(4));
    expect(imageNetLikeJpeg(64, 48, new SeededRandom(4)).equals(a)).toBe(true);
    expect(imageNetLikeJpeg(64, 48, new SeededRandom(5)).equals(a)).toBe(false);
  });

  it('are written once per set of options, and never replace a folder they did not write', async () => {
    const options = { root, classes: 2, perClass: 2, width: 40, height: 30 };
    await writeImageNetLikeFolder(options);
    const file = join(root, 'imagenet', 'train', 'n00000001', '00001.JPEG');
    const bytes = readFileSync(file);
    writeFileSync(file, 'changed');
    await writeImageNetLikeFolder(options); // same options: left as it is
    expect(readFileSync(file, 'utf8')).toBe('changed');
    await writeImageNetLikeFolder({ ...options, perClass: 3 });
    expect(readdirSync(join(root, 'imagenet', 'train', 'n00000001'))).toHaveLength(3);
    expect(readFileSync(file).subarray(0, 2).equals(bytes.subarray(0, 2))).toBe(true); // rewritten: a JPEG again

    const real = join(root, 'real');
    mkdirSync(join(real, 'imagenet', 'train', 'n01440764'), { recursive: true });
    writeFileSync(join(real, 'imagenet', 'train', 'n01440764', 'a.JPEG'), 'a real image');
    await expect(writeImageNetLikeFolder({ ...options, root: real })).rejects.toThrow(/was not written by writeImageNetLikeFolder; it is left alone/);
    expect(existsSync(join(real, 'imagenet', 'train', 'n01440764', 'a.JPEG'))).toBe(true);
  });
});
