import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetFormatError, DatasetNotFoundError } from '../errors.js';

/** Class folder → label, as torchvision's ImageFolder: folders sorted by name, files sorted within. */
export interface ImageFolderListing {
  classes: string[];
  files: string[];
  labels: Int32Array;
}

const JPEG_NAME = /\.jpe?g$/i;

export function listImageFolder(folder: string): ImageFolderListing {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    throw new DatasetNotFoundError(
      `Missing image folder ${folder}. ImageNet is read as <dataDir>/imagenet/train/<class>/*.JPEG and <dataDir>/imagenet/val/<class>/*.JPEG; put the folders there or point dataDir at their parent.`,
      { file: folder, expected: 'a folder of class folders', found: 'nothing' },
    );
  }
  const classes = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  if (classes.length === 0) {
    throw new DatasetFormatError(`${folder} holds no class folders. Each class needs its own folder of JPEG files (e.g. train/n01440764/*.JPEG).`, {
      file: folder,
      expected: 'class folders',
      found: `${entries.length} other entries`,
    });
  }
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((name, label) => {
    const classFolder = join(folder, name);
    const images = readdirSync(classFolder, { withFileTypes: true })
      .filter((entry) => entry.isFile() && JPEG_NAME.test(entry.name))
      .map((entry) => entry.name)
      .sort();
    if (images.length === 0) {
      throw new DatasetFormatError(`The class folder ${classFolder} holds no JPEG files (*.jpeg, *.jpg). Add its images or remove the folder.`, {
        file: classFolder,
        expected: 'JPEG files',
        found: 'none',
      });
    }
    for (const image of images) {
      files.push(join(classFolder, image));
      labels.push(label);
    }
  });
  return { classes, files, labels: Int32Array.from(labels) };
}

/** Checks that every file starts with a JPEG marker (decoding all of ImageNet up front would take hours). */
export async function verifyJpegFiles(files: readonly string[]): Promise<void> {
  const start = Buffer.alloc(3);
  for (const file of files) {
    const handle = await open(file, 'r');
    let read = 0;
    try {
      read = (await handle.read(start, 0, 3, 0)).bytesRead;
    } finally {
      await handle.close();
    }
    if (read < 3 || start[0] !== 0xff || start[1] !== 0xd8 || start[2] !== 0xff) {
      throw new DatasetFormatError(`${file} is not a JPEG file (it does not start with ff d8 ff). Convert it to JPEG or remove it.`, {
        file,
        expected: 'ff d8 ff',
        found: [...start.subarray(0, read)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ') || 'an empty file',
      });
    }
  }
}
