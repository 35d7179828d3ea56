import type { Backbone } from '../backbone/backbone.js';
import { ShapeError } from '../errors.js';
import type { Batch } from './plugin.js';

/**
 * Rejects a batch the backbone cannot train on: inputs not NHWC with the backbone's channels,
 * or labels not one per image.
 */
export function checkBatch(batch: Batch, backbone: Backbone): void {
  const s = batch.inputs.shape;
  if (batch.inputs.rank !== 4 || s[3] !== backbone.inputChannels) {
    throw new ShapeError(
      `Batch inputs must be NHWC with ${backbone.inputChannels} channels; got [${s.join(', ')}]. Convert NCHW with tf.transpose(x, [0, 2, 3, 1]).`,
    );
  }
  if (batch.labels.rank !== 1 || batch.labels.shape[0] !== s[0]) {
    throw new ShapeError(`Batch labels must be a vector of ${s[0]} class indices; got [${batch.labels.shape.join(', ')}].`);
  }
}
