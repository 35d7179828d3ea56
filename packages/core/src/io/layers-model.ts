import * as tf from '@tensorflow/tfjs-core';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backbone } from '../backbone/backbone.js';
import { ExportError } from '../errors.js';
import { ReLU } from '../layers/activation.js';
import { BatchNorm } from '../layers/batch-norm.js';
import { Conv2d } from '../layers/conv2d.js';
import type { Layer } from '../layers/layer.js';
import { Linear } from '../layers/linear.js';
import { AvgPool2d, Flatten, GlobalAveragePool, MaxPool2d } from '../layers/pooling.js';
import { Residual, Sequential } from '../layers/sequential.js';

/** The Keras version string tfjs-layers itself writes; loaders only display it. */
const KERAS_VERSION = 'tfjs-layers 4.22.0';
/** Shard size of the TensorFlow.js converter, so that browsers can cache the weight files. */
const SHARD_BYTES = 4 * 1024 * 1024;

interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, never>][][];
}

/**
 * Builds a Keras functional-model topology (the JSON tfjs-layers reads) from this library's
 * layers, with the eval-mode computation: PyTorch's explicit symmetric padding becomes a
 * ZeroPadding2D before a 'valid' conv (tfjs's 'same' pads stride-2 convs on one side only), and
 * batch norm uses the running statistics.
 */
class TopologyBuilder {
  readonly layers: KerasLayer[] = [];
  readonly weights: { name: string; tensor: tf.Tensor }[] = [];
  private readonly taken = new Set<string>();

  private unique(name: string): string {
    if (!this.taken.has(name)) {
      this.taken.add(name);
      return name;
    }
    let i = 1;
    while (this.taken.has(`${name}_${i}`)) i++;
    this.taken.add(`${name}_${i}`);
    return `${name}_${i}`;
  }

  add(className: string, name: string, config: Record<string, unknown>, inputs: string[]): string {
    const unique = this.unique(name);
    this.layers.push({
      class_name: className,
      name: unique,
      config: { name: unique, trainable: true, dtype: 'float32', ...config },
      inbound_nodes: inputs.length > 0 ? [inputs.map((input) => [input, 0, 0, {}] as [string, number, number, Record<string, never>])] : [],
    });
    return unique;
  }

  weight(layerName: string, weightName: string, tensor: tf.Tensor): void {
    this.weights.push({ name: `${layerName}/${weightName}`, tensor });
  }
}

/** Input of a layer and whether every value in it is known to be >= 0 (after a ReLU). */
interface Node {
  name: string;
  nonNegative: boolean;
}

function child(prefix: string, name: string): string {
  return prefix && name ? `${prefix}.${name}` : prefix || name;
}

function padded(builder: TopologyBuilder, name: string, padding: number, input: string): string {
  if (padding === 0) return input;
  return builder.add('ZeroPadding2D', `${name}.pad`, { padding: [[padding, padding], [padding, padding]], data_format: 'channels_last' }, [input]);
}

function emit(builder: TopologyBuilder, layer: Layer, name: string, input: Node): Node {
  if (layer instanceof Sequential) {
    let h = input;
    for (const [entryName, entry] of layer.entries) h = emit(builder, entry, child(name, entryName), h);
    return h;
  }
  if (layer instanceof Residual) {
    let main = input;
    for (const [entryName, entry] of layer.main) main = emit(builder, entry, child(name, entryName), main);
    let skip = input;
    for (const [entryName, entry] of layer.shortcut ?? []) skip = emit(builder, entry, child(name, `${layer.shortcutName}.${entryName}`), skip);
    const sum = builder.add('Add', child(name, 'add'), {}, [main.name, skip.name]);
    return { name: builder.add('Activation', child(name, 'relu_out'), { activation: 'relu' }, [sum]), nonNegative: true };
  }
  if (layer instanceof Conv2d) {
    const conv = builder.add(
      'Conv2D',
      name || 'conv',
      {
        filters: layer.outChannels,
        kernel_size: [layer.kernelSize, layer.kernelSize],
        strides: [layer.stride, layer.stride],
        padding: 'valid',
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: 'linear',
        use_bias: layer.bias !== undefined,
      },
      [padded(builder, name || 'conv', layer.padding, input.name)],
    );
    builder.weight(conv, 'kernel', layer.weight);
    if (layer.bias) builder.weight(conv, 'bias', layer.bias);
    return { name: conv, nonNegative: false };
  }
  if (layer instanceof BatchNorm) {
    const norm = builder.add(
      'BatchNormalization',
      name || 'batch_norm',
      { axis: -1, momentum: 1 - layer.momentum, epsilon: layer.epsilon, center: true, scale: true },
      [input.name],
    );
    builder.weight(norm, 'gamma', layer.weight);
    builder.weight(norm, 'beta', layer.bias);
    builder.weight(norm, 'moving_mean', layer.runningMean);
    builder.weight(norm, 'moving_variance', layer.runningVar);
    return { name: norm, nonNegative: false };
  }
  if (layer instanceof ReLU) {
    return { name: builder.add('Activation', name || 'relu', { activation: 'relu' }, [input.name]), nonNegative: true };
  }
  if (layer instanceof Linear) {
    const dense = builder.add('Dense', name || 'dense', { units: layer.outFeatures, activation: 'linear', use_bias: layer.bias !== undefined }, [input.name]);
    builder.weight(dense, 'kernel', layer.weight);
    if (layer.bias) builder.weight(dense, 'bias', layer.bias);
    return { name: dense, nonNegative: false };
  }
  if (layer instanceof GlobalAveragePool) {
    return { name: builder.add('GlobalAveragePooling2D', name || 'global_average_pool', { data_format: 'channels_last' }, [input.name]), nonNegative: input.nonNegative };
  }
  if (layer instanceof Flatten) {
    return { name: builder.add('Flatten', name || 'flatten', {}, [input.name]), nonNegative: input.nonNegative };
  }
  if (layer instanceof MaxPool2d || layer instanceof AvgPool2d) {
    const { kernelSize, stride, padding = 0 } = layer.options;
    const kind = layer instanceof MaxPool2d ? 'MaxPooling2D' : 'AveragePooling2D';
    // Keras pools have no explicit padding. Zeros stand in for PyTorch's ignored border exactly
    // when the input is non-negative (a max-pool after a ReLU, as in the ImageNet stem).
    if (padding > 0 && !input.nonNegative) {
      throw new ExportError(
        `Cannot export '${name}': a padded max-pool is exact in Keras only after a ReLU (its zero padding must not win the max).`,
      );
    }
    const pool = builder.add(
      kind,
      name || kind.toLowerCase(),
      { pool_size: [kernelSize, kernelSize], strides: [stride ?? kernelSize, stride ?? kernelSize], padding: 'valid', data_format: 'channels_last' },
      [padded(builder, name || kind.toLowerCase(), padding, input.name)],
    );
    return { name: pool, nonNegative: input.nonNegative };
  }
  throw new ExportError(
    `Cannot export '${name || 'the model'}': layer ${layer.constructor.name} has no TensorFlow.js Layers equivalent here. ` +
      'Supported: Sequential, Residual, Conv2d, BatchNorm, ReLU, Linear, GlobalAveragePool, Flatten, MaxPool2d, AvgPool2d.',
  );
}

/**
 * The backbone (stem, blocks, classifier) as TensorFlow.js LayersModel artifacts: a Keras
 * functional topology whose layer names are the PyTorch module names (`layer2.0.conv1`) and the
 * weights, in eval mode. Load them with `tf.loadLayersModel(tf.io.fromMemory(artifacts))` or write
 * them with `writeLayersModel`. No dependency on `@tensorflow/tfjs-layers`.
 */
export async function toLayersModelArtifacts(backbone: Backbone): Promise<tf.io.ModelArtifacts> {
  const builder = new TopologyBuilder();
  const inputName = builder.add(
    'InputLayer',
    'input',
    { batch_input_shape: [null, backbone.inputSize, backbone.inputSize, backbone.inputChannels], sparse: false },
    [],
  );
  let h: Node = { name: inputName, nonNegative: false };
  // The stem's layers are top-level modules in PyTorch (conv1, bn1): its block name is empty.
  for (const block of backbone.sequence) h = emit(builder, block.layer, block.name, h);
  h = emit(builder, backbone.classifier, '', h);
  const modelTopology = {
    class_name: 'Model',
    config: { name: backbone.id, layers: builder.layers, input_layers: [[inputName, 0, 0]], output_layers: [[h.name, 0, 0]] },
    keras_version: KERAS_VERSION,
    backend: 'tensor_flow.js',
  };
  const { data, specs } = await tf.io.encodeWeights(builder.weights);
  return { modelTopology, format: 'layers-model', generatedBy: '@mlaan/core', convertedBy: null, weightSpecs: specs, weightData: data };
}

/**
 * Write the backbone as a TensorFlow.js LayersModel: `<dir>/model.json` and 4 MB weight shards
 * (`group1-shard1ofN.bin`), the layout of the TensorFlow.js converter. Load it with
 * `tf.loadLayersModel('file://<dir>/model.json')` (tfjs-node) or over http in a browser.
 */
export async function writeLayersModel(dir: string, backbone: Backbone): Promise<{ modelPath: string; weightPaths: string[] }> {
  const artifacts = await toLayersModelArtifacts(backbone);
  const bytes = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const shards = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const paths = Array.from({ length: shards }, (_, i) => `group1-shard${i + 1}of${shards}.bin`);
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < shards; i++) await writeFile(join(dir, paths[i]!), bytes.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES));
  const modelJson = {
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
  };
  const modelPath = join(dir, 'model.json');
  await writeFile(modelPath, JSON.stringify(modelJson));
  return { modelPath, weightPaths: paths.map((p) => join(dir, p)) };
}
