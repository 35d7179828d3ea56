import { deflateSync } from 'node:zlib';
import { MatClass, MatDataType, type MatClassName } from '../formats/matlab.js';

/**
 * Writes level-5 MAT-files the way MATLAB does, so tests can feed the reader files in the official
 * format: the 128-byte header, one miMATRIX element per variable (optionally wrapped in
 * miCOMPRESSED, as `save -v7` does), short names as small data elements, 8-byte padding.
 */
export interface MatVariable {
  name: string;
  className: Extract<MatClassName, 'double' | 'single' | 'uint8' | 'int32'>;
  /** Column-major dimensions. */
  dimensions: number[];
  data: ArrayLike<number>;
  /** Storage type of the data; MATLAB stores small integer doubles as miUINT8 to save space. */
  storeAs?: 'miUINT8' | 'miDOUBLE' | 'miSINGLE' | 'miINT32';
  compress?: boolean;
}

const storageSize = { miUINT8: 1, miINT32: 4, miSINGLE: 4, miDOUBLE: 8 } as const;
const defaultStorage = { double: 'miDOUBLE', single: 'miSINGLE', uint8: 'miUINT8', int32: 'miINT32' } as const;

export function writeMatFile(variables: readonly MatVariable[], littleEndian = true): Buffer {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2015', 0, 'latin1');
  header.fill(0, 116, 124); // subsystem data offset: none
  const view = new DataView(header.buffer, header.byteOffset);
  view.setUint16(124, 0x0100, littleEndian);
  view.setUint16(126, 0x4d49, littleEndian); // 'MI' as a number: reads back as "IM" on little-endian
  const parts: Buffer[] = [header];
  for (const variable of variables) {
    const matrix = matrixElement(variable, littleEndian);
    if (variable.compress) {
      const compressed = deflateSync(matrix);
      parts.push(tag(MatDataType.miCOMPRESSED, compressed.length, littleEndian), compressed);
    } else {
      parts.push(matrix);
    }
  }
  return Buffer.concat(parts);
}

function tag(type: number, size: number, littleEndian: boolean): Buffer {
  const bytes = Buffer.alloc(8);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(0, type, littleEndian);
  view.setUint32(4, size, littleEndian);
  return bytes;
}

function element(type: number, data: Buffer, littleEndian: boolean): Buffer {
  if (data.length <= 4) {
    const small = Buffer.alloc(8);
    const view = new DataView(small.buffer, small.byteOffset);
    view.setUint32(0, ((data.length << 16) | type) >>> 0, littleEndian);
    data.copy(small, 4);
    return small;
  }
  const padding = (8 - (data.length % 8)) % 8;
  return Buffer.concat([tag(type, data.length, littleEndian), data, Buffer.alloc(padding)]);
}

function matrixElement(variable: MatVariable, littleEndian: boolean): Buffer {
  const flags = Buffer.alloc(8);
  new DataView(flags.buffer, flags.byteOffset).setUint32(0, MatClass[variable.className], littleEndian);
  const dimensions = Buffer.alloc(4 * variable.dimensions.length);
  variable.dimensions.forEach((size, i) => new DataView(dimensions.buffer, dimensions.byteOffset).setInt32(4 * i, size, littleEndian));
  const storage = variable.storeAs ?? defaultStorage[variable.className];
  const data = Buffer.alloc(variable.data.length * storageSize[storage]);
  const dataView = new DataView(data.buffer, data.byteOffset);
  for (let i = 0; i < variable.data.length; i++) {
    const value = variable.data[i]!;
    if (storage === 'miUINT8') dataView.setUint8(i, value);
    else if (storage === 'miINT32') dataView.setInt32(4 * i, value, littleEndian);
    else if (storage === 'miSINGLE') dataView.setFloat32(4 * i, value, littleEndian);
    else dataView.setFloat64(8 * i, value, littleEndian);
  }
  const body = Buffer.concat([
    element(MatDataType.miUINT32, flags, littleEndian),
    element(MatDataType.miINT32, dimensions, littleEndian),
    element(MatDataType.miINT8, Buffer.from(variable.name, 'latin1'), littleEndian),
    element(MatDataType[storage], data, littleEndian),
  ]);
  return Buffer.concat([tag(MatDataType.miMATRIX, body.length, littleEndian), body]);
}
