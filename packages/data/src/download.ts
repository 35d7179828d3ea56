import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '@mlaan/core';
import { formatMd5Sums } from './checksum.js';
import { ChecksumError, DatasetFormatError, DownloadError } from './errors.js';
import { extractArchive } from './formats/tar.js';
import { downloadDatasetOptions } from './options.js';
import { resolveDataDirectory } from './paths.js';
import { type ProgressCallback, type ProgressOption, progressReporter } from './progress.js';
import { type DatasetName, type DownloadSource, type Split, datasetSpecs } from './specs.js';

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 60_000;

function request(url: string, redirects = 0): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new ConfigError(`"${url}" is not a valid address. Give a full http:// or https:// URL.`));
      return;
    }
    const get = parsed.protocol === 'https:' ? httpsGet : parsed.protocol === 'http:' ? httpGet : undefined;
    if (!get) {
      reject(new ConfigError(`Cannot download ${url}: only http:// and https:// addresses are supported.`));
      return;
    }
    // `identity`: the md5 is of the file's own bytes, so no transfer encoding may change them.
    const outgoing = get(parsed, { headers: { 'accept-encoding': 'identity', 'user-agent': 'mlaan-data' } }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location) {
        response.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new DownloadError(`${url} redirects more than ${MAX_REDIRECTS} times. Check the address.`, { file: url, expected: 'a file', found: 'a redirect loop' }));
          return;
        }
        request(new URL(response.headers.location, parsed).href, redirects + 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        response.resume();
        reject(
          new DownloadError(`${url} answered HTTP ${status} ${response.statusMessage ?? ''}. Check the address, or download the file by hand into the data directory.`, {
            file: url,
            expected: 'HTTP 200',
            found: `HTTP ${status}`,
          }),
        );
        return;
      }
      resolve(response);
    });
    outgoing.setTimeout(IDLE_TIMEOUT_MS, () => outgoing.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
    outgoing.on('error', (error) =>
      reject(
        new DownloadError(`Cannot download ${url}: ${error.message}. Check the network connection, or download the file by hand into the data directory.`, {
          file: url,
          expected: 'a response',
          found: error.message,
        }),
      ),
    );
  });
}

export interface DownloadFileOptions {
  /** The md5 the file must have; checked before the file is given its final name. */
  md5: string;
  progress?: ProgressOption;
  /** Shown before the progress bar. */
  label?: string;
}

/**
 * Downloads `url` to `destination`: into a temporary file beside it, md5-checked, then renamed. On
 * any failure nothing is left at `destination` and the temporary file is removed.
 */
export async function downloadFile(url: string, destination: string, options: DownloadFileOptions): Promise<void> {
  const report: ProgressCallback | undefined = progressReporter(options.progress);
  const label = options.label ?? basename(destination);
  await mkdir(dirname(destination), { recursive: true });
  const temporary = `${destination}.${process.pid}-${randomBytes(4).toString('hex')}.part`;
  try {
    const response = await request(url);
    const header = response.headers['content-length'];
    const total = header === undefined ? undefined : Number(header);
    const hash = createHash('md5');
    let received = 0;
    const handle = await open(temporary, 'w');
    try {
      for await (const chunk of response as AsyncIterable<Buffer>) {
        await handle.write(chunk);
        hash.update(chunk);
        received += chunk.length;
        report?.({ label, received, total, done: false });
      }
    } catch (error) {
      throw interrupted(url, received, total, (error as Error).message);
    } finally {
      await handle.close();
    }
    if (total !== undefined && received !== total) throw interrupted(url, received, total, 'the connection closed early');
    report?.({ label, received, total, done: true });
    const actual = hash.digest('hex');
    if (actual !== options.md5.toLowerCase()) {
      throw new ChecksumError(
        `The file downloaded from ${url} has md5 ${actual}, but its published checksum is ${options.md5}: the transfer was corrupted or the server sent another file. ` +
          'Nothing was kept; run again, or check the address.',
        { file: url, expected: options.md5, found: actual },
      );
    }
    await rename(temporary, destination);
  } finally {
    await rm(temporary, { force: true });
  }
}

function interrupted(url: string, received: number, total: number | undefined, reason: string): DownloadError {
  const expected = total === undefined ? 'the whole file' : `${total} bytes`;
  return new DownloadError(`The download of ${url} stopped after ${received} of ${total ?? 'an unknown number of'} bytes (${reason}). Nothing was kept; run again to retry.`, {
    file: url,
    expected,
    found: `${received} bytes`,
  });
}

export interface DownloadDatasetOptions {
  name: DatasetName;
  split?: Split;
  dataDir?: string;
  progress?: ProgressOption;
  /** Download from here instead of the official address (a mirror); `md5` defaults to the official one. */
  source?: { url: string; md5?: string };
}

/**
 * Downloads and unpacks a dataset into the data directory; returns the dataset folder. Archives are
 * fetched and unpacked inside a temporary folder beside the destination, and the dataset folder is
 * moved into place only when complete, so an interrupted run never leaves a half dataset.
 */
export async function downloadDataset(given: DownloadDatasetOptions): Promise<string> {
  const options = downloadDatasetOptions.resolve(given);
  const spec = datasetSpecs[options.name];
  const split = options.split;
  const dataDir = resolveDataDirectory(options.dataDir);
  const official = spec.sources?.[split];
  if (!official) {
    throw new ConfigError(
      `${spec.name} cannot be downloaded automatically (its files need an account with the publisher). ` +
        `Put its train/ and val/ folders of class folders under ${join(dataDir, spec.folders[0]!)}.`,
    );
  }
  const source: DownloadSource = { ...official, url: options.source?.url ?? official.url, md5: options.source?.md5 ?? official.md5 };
  const folder = join(dataDir, spec.folders[0]!);

  if (source.format === 'file') {
    const file = spec.files[split][0]!.path;
    await downloadFile(source.url, join(folder, file), { md5: source.md5, progress: options.progress, label: `${spec.name} ${file}` });
    return folder;
  }

  if (existsSync(folder)) {
    throw new DatasetFormatError(
      `${folder} exists but is incomplete (a file the ${split} split needs is missing). Delete the folder and load again to download the dataset afresh.`,
      { file: folder, expected: spec.files[split].map((file) => file.path).join(', '), found: 'an incomplete folder' },
    );
  }
  const parent = dirname(folder);
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, '.download-'));
  try {
    const archive = join(staging, basename(new URL(source.url).pathname) || 'archive.tar.gz');
    await downloadFile(source.url, archive, { md5: source.md5, progress: options.progress, label: `${spec.name} ${basename(archive)}` });
    const extracted = join(staging, 'extracted');
    const files = await extractArchive(archive, extracted);
    const top = basename(folder);
    const unpacked = join(extracted, top);
    const missing = spec.files[split].filter((file) => !existsSync(join(unpacked, file.path)));
    if (missing.length > 0) {
      throw new DatasetFormatError(
        `The archive from ${source.url} does not hold ${missing.map((file) => `${top}/${file.path}`).join(', ')}. Check the address: it should be the official ${spec.name} archive.`,
        { file: archive, expected: missing.map((file) => `${top}/${file.path}`).join(', '), found: `${files.length} other files` },
      );
    }
    // Record the md5 of every unpacked file so that `verify` can check this copy later.
    const sums = files.filter((file) => dirname(file.path) === top).map((file) => [basename(file.path), file.md5] as const);
    if (!existsSync(join(unpacked, 'MD5SUMS'))) await writeFile(join(unpacked, 'MD5SUMS'), formatMd5Sums(sums));
    await rename(unpacked, folder);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return folder;
}
