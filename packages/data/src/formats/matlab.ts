import { inflateSync } from 'node:zlib';
import { DatasetFormatError } from '../errors.js';

/**
 * A reader for MATLAB level-5 MAT-files (the format of SVHN's `*_32x32.mat`), after "MAT-File
 * Format" (MathWorks): a 128-byte header, then tagged data elements. Numeric matrices
 * (`miMATRIX`) are decoded, zlib-compressed elements (`miCOMPRESSED`, MATLAB's `-v7` default) are
 * inflated with node's zlib; cells, structs, sparse and character arrays are listed but not decoded.
 */

export const MatDataType = {
  miINT8: 1,
  miUINT8: 2,
  miINT16: 3,
  miUINT16: 4,
  miINT32: 5,
  miUINT32: 6,
  miSINGLE: 7,
  miDOUBLE: 9,
  miINT64: 12,
  miUINT64: 13,
  miMATRIX: 14,
  miCOMPRESSED: 15,
  miUTF8: 16,
  miUTF16: 17,
  miUTF32: 18,
} as const;

export const MatClass = {
  cell: 1,
  struct: 2,
  object: 3,
  char: 4,
  sparse: 5,
  double: 6,
  single: 7,
  int8: 8,
  uint8: 9,
  int16: 10,
  uint16: 11,
  int32: 12,
  uint32: 13,
  int64: 14,
  uint64: 15,
} as const;

export type MatClassName = keyof typeof MatClass;
export type NumericArray = Float64Array | Float32Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface MatArray {
  name: string;
  className: MatClassName;
  /** MATLAB dimensions; the data is column-major (the first index varies fastest). */
  dimensions: number[];
  /** The real part, as the class's own element type (int64 classes become Float64Array). Absent for non-numeric classes. */
  real?: NumericArray;
  imaginary?: NumericArray;
}

const classNames = Object.fromEntries(Object.entries(MatClass).map(([name, id]) => [id, name])) as Record<number, MatClassName>;

const elementSize: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };

interface Tag {
  type: number;
  size: number;
  dataOffset: number;
  /** Offset of the next element. */
  end: number;
}

class MatReader {
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly littleEndian: boolean,
    private readonly file: string,
    private readonly where: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(offset: number, problem: string, expected: string, found: string): never {
    throw new DatasetFormatError(
      `${this.file} is not a valid MATLAB 5 MAT-file: ${problem} (at byte ${offset}${this.where}; expected ${expected}, found ${found}). ` +
        'The file is damaged or truncated: delete it and download it again.',
      { file: this.file, expected, found },
    );
  }

  readTag(offset: number, limit: number): Tag {
    if (offset + 8 > limit) this.fail(offset, 'a data element tag runs past the end', '8 bytes of tag', `${limit - offset} bytes`);
    const word = this.view.getUint32(offset, this.littleEndian);
    // Small data element: the size sits in the upper half of the first word, the data in the next four bytes.
    if (word >>> 16 !== 0) {
      const size = word >>> 16;
      if (size > 4) this.fail(offset, 'a small data element declares more than 4 bytes', 'at most 4', `${size}`);
      return { type: word & 0xffff, size, dataOffset: offset + 4, end: offset + 8 };
    }
    const size = this.view.getUint32(offset + 4, this.littleEndian);
    const dataOffset = offset + 8;
    // Compressed elements are not padded; every other element is padded to 8 bytes.
    const end = word === MatDataType.miCOMPRESSED ? dataOffset + size : dataOffset + Math.ceil(size / 8) * 8;
    if (dataOffset + size > limit) {
      this.fail(offset, `a data element of type ${word} declares ${size} bytes but the file ends first`, `${size} bytes`, `${limit - dataOffset} bytes`);
    }
    return { type: word, size, dataOffset, end: Math.min(end, limit) };
  }

  /** Reads the top-level elements from `offset` to the end. */
  readElements(offset: number, into: Map<string, MatArray>): void {
    const limit = this.bytes.byteLength;
    while (offset < limit) {
      const tag = this.readTag(offset, limit);
      if (tag.type === MatDataType.miCOMPRESSED) {
        let inflated: Buffer;
        try {
          inflated = inflateSync(this.bytes.subarray(tag.dataOffset, tag.dataOffset + tag.size));
        } catch (error) {
          this.fail(offset, `a compressed element does not inflate (${(error as Error).message})`, 'a zlib stream', `${tag.size} bytes that are not one`);
        }
        new MatReader(inflated, this.littleEndian, this.file, ` of the element compressed at byte ${offset}`).readElements(0, into);
      } else if (tag.type === MatDataType.miMATRIX) {
        if (tag.size > 0) {
          const array = this.readMatrix(tag);
          into.set(array.name, array);
        }
      }
      // Any other top-level element (there should be none) is skipped, as MATLAB does.
      offset = tag.end;
    }
  }

  private readMatrix(matrix: Tag): MatArray {
    const limit = matrix.dataOffset + matrix.size;
    const flagsTag = this.readTag(matrix.dataOffset, limit);
    if (flagsTag.type !== MatDataType.miUINT32 || flagsTag.size !== 8) {
      this.fail(matrix.dataOffset, 'a matrix does not start with its array flags', 'miUINT32 of 8 bytes', `type ${flagsTag.type} of ${flagsTag.size} bytes`);
    }
    const flags = this.view.getUint32(flagsTag.dataOffset, this.littleEndian);
    const classId = flags & 0xff;
    const complex = (flags & 0x800) !== 0;
    const className = classNames[classId];
    if (!className) this.fail(flagsTag.dataOffset, 'unknown array class', 'a class from 1 to 15', `${classId}`);

    const dimensionsTag = this.readTag(flagsTag.end, limit);
    if (dimensionsTag.type !== MatDataType.miINT32 || dimensionsTag.size % 4 !== 0) {
      this.fail(flagsTag.end, 'a matrix has no dimensions array', 'miINT32 dimensions', `type ${dimensionsTag.type}`);
    }
    const dimensions: number[] = [];
    for (let i = 0; i < dimensionsTag.size / 4; i++) dimensions.push(this.view.getInt32(dimensionsTag.dataOffset + 4 * i, this.littleEndian));

    const nameTag = this.readTag(dimensionsTag.end, limit);
    if (nameTag.type !== MatDataType.miINT8) this.fail(dimensionsTag.end, 'a matrix has no name', 'miINT8 name', `type ${nameTag.type}`);
    const name = new TextDecoder('latin1').decode(this.bytes.subarray(nameTag.dataOffset, nameTag.dataOffset + nameTag.size));

    const array: MatArray = { name, className, dimensions };
    const numeric = classId >= MatClass.double;
    if (!numeric) return array;

    const count = dimensions.reduce((product, size) => product * size, 1);
    const realTag = this.readTag(nameTag.end, limit);
    array.real = this.readNumeric(realTag, classId, count, name, 'real');
    if (complex) array.imaginary = this.readNumeric(this.readTag(realTag.end, limit), classId, count, name, 'imaginary');
    return array;
  }

  /** Reads a numeric sub-element stored as `tag.type` into the element type of `classId`. */
  private readNumeric(tag: Tag, classId: number, count: number, name: string, part: string): NumericArray {
    const size = elementSize[tag.type];
    if (size === undefined) this.fail(tag.dataOffset, `the ${part} part of "${name}" has a non-numeric storage type`, 'a numeric type', `type ${tag.type}`);
    const stored = tag.size / size;
    if (stored !== count) {
      this.fail(tag.dataOffset, `"${name}" holds ${stored} elements but its dimensions say ${count}`, `${count} elements`, `${stored}`);
    }
    // The common case (uint8 images stored as miUINT8): a view, no copy of hundreds of megabytes.
    if (tag.type === MatDataType.miUINT8 && classId === MatClass.uint8) {
      return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + tag.dataOffset, count);
    }
    const out = allocate(classId, count);
    const read = this.reader(tag.type);
    for (let i = 0; i < count; i++) out[i] = read(tag.dataOffset + i * size);
    return out;
  }

  private reader(type: number): (offset: number) => number {
    const view = this.view;
    const le = this.littleEndian;
    switch (type) {
      case MatDataType.miINT8: return (o) => view.getInt8(o);
      case MatDataType.miUINT8: return (o) => view.getUint8(o);
      case MatDataType.miINT16: return (o) => view.getInt16(o, le);
      case MatDataType.miUINT16: return (o) => view.getUint16(o, le);
      case MatDataType.miINT32: return (o) => view.getInt32(o, le);
      case MatDataType.miUINT32: return (o) => view.getUint32(o, le);
      case MatDataType.miSINGLE: return (o) => view.getFloat32(o, le);
      case MatDataType.miDOUBLE: return (o) => view.getFloat64(o, le);
      case MatDataType.miINT64: return (o) => Number(view.getBigInt64(o, le));
      default: return (o) => Number(view.getBigUint64(o, le));
    }
  }
}

function allocate(classId: number, count: number): NumericArray {
  switch (classId) {
    case MatClass.single: return new Float32Array(count);
    case MatClass.int8: return new Int8Array(count);
    case MatClass.uint8: return new Uint8Array(count);
    case MatClass.int16: return new Int16Array(count);
    case MatClass.uint16: return new Uint16Array(count);
    case MatClass.int32: return new Int32Array(count);
    case MatClass.uint32: return new Uint32Array(count);
    default: return new Float64Array(count); // double, and int64/uint64 (as numbers)
  }
}

/** Parses a level-5 MAT-file; returns its variables by name. `file` names it in errors. */
export function readMatFile(bytes: Uint8Array, file: string): Map<string, MatArray> {
  const fail = (expected: string, found: string) => {
    throw new DatasetFormatError(
      `${file} is not a MATLAB 5 MAT-file: expected ${expected}, found ${found}. Delete it and download it again.`,
      { file, expected, found },
    );
  };
  if (bytes.byteLength < 128) fail('a 128-byte header', `${bytes.byteLength} bytes in all`);
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, 116));
  if (text.startsWith('MATLAB 7.3')) {
    throw new DatasetFormatError(
      `${file} is a MATLAB 7.3 (HDF5) file, which this reader does not parse. Save it with save(..., '-v7') or download the official file again.`,
      { file, expected: 'MATLAB 5 MAT-file', found: 'MATLAB 7.3 (HDF5)' },
    );
  }
  const marker = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (marker !== 'IM' && marker !== 'MI') fail('the endian indicator "IM" or "MI" at byte 126', JSON.stringify(marker));
  const littleEndian = marker === 'IM';
  const version = new DataView(bytes.buffer, bytes.byteOffset).getUint16(124, littleEndian);
  if (version !== 0x0100) fail('version 0x0100 at byte 124', `0x${version.toString(16)}`);
  const variables = new Map<string, MatArray>();
  new MatReader(bytes, littleEndian, file, '').readElements(128, variables);
  return variables;
}
