import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { type Backbone, writeLayersModel, writePyTorchSafetensors } from '@mlaan/core';
import type { Dataset } from '@mlaan/data';
import { configId } from './configuration/configuration-id.js';
import type { RunConfig } from './configuration/settings.js';
import { methodLabel } from './configuration/labels.js';

/** The trained network at the end of a run, with what inference needs to know about its inputs. */
export interface FinalModel {
  backbone: Backbone;
  dataset: Pick<Dataset, 'classes' | 'normalization' | 'height' | 'width'>;
}

export const PYTORCH_FILE = 'model.safetensors';
export const LAYERS_MODEL_FOLDER = 'tfjs';
export const EXPORT_MANIFEST = 'export.json';

/**
 * `--export <dir>`: writes the final model of a configuration to `<dir>/<configuration id>/` as
 * `model.safetensors` (PyTorch names and layouts; `load_state_dict(strict=True)`), `tfjs/model.json`
 * + weight shards (a TensorFlow.js LayersModel), and `export.json` (classes, input size and the
 * normalisation the network expects), so that a grid's models never overwrite each other.
 */
export async function exportFinalModel(exportDir: string, config: RunConfig, model: FinalModel): Promise<string> {
  const id = configId(config);
  const folder = join(exportDir, id);
  await mkdir(folder, { recursive: true });
  const { backbone, dataset } = model;
  const metadata = { network: config.network, dataset: config.dataset, configuration: id, method: methodLabel(config) };
  await writePyTorchSafetensors(join(folder, PYTORCH_FILE), backbone.namedVariables(), { metadata });
  const layers = await writeLayersModel(join(folder, LAYERS_MODEL_FOLDER), backbone);
  const manifest = {
    ...metadata,
    classes: dataset.classes,
    input: {
      height: dataset.height,
      width: dataset.width,
      channels: backbone.inputChannels,
      range: 'pixels / 255, then (x - mean) / std per channel',
      mean: dataset.normalization.mean,
      std: dataset.normalization.std,
    },
    files: {
      pytorch: { path: PYTORCH_FILE, layout: 'PyTorch state dict: conv OIHW, linear [out, in]; images NCHW' },
      tfjs: { path: relative(folder, layers.modelPath), layout: 'TensorFlow.js LayersModel; images NHWC; outputs logits' },
    },
  };
  await writeFile(join(folder, EXPORT_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return folder;
}
