import type { Backbone } from '../backbone/backbone.js';
import { ShapeError } from '../errors.js';
import type { Batch } from './plugin.js';

/**
 * Rejects a batch the backbone cannot train on: inputs not NHWC with the backbone's channels,
 * labels not one per image, or a label that is not an integer class index in [0, classes). The
 * label check reads the labels back (one small int vector per step): a wrong label would
 * otherwise train silently, as one-hot encoding maps it to a zero or truncated row.
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
  const labels = batch.labels.dataSync();
  const classes = backbone.classes;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
      // float32 labels print as written (2.7, not 2.700000047683716).
      const shown = batch.labels.dtype === 'float32' ? Number(label.toPrecision(7)) : label;
      throw new ShapeError(
        `Batch has label ${shown} at index ${i}; labels must be class indices, integers in [0, ${classes}). ` +
          `Map your dataset's labels to 0..${classes - 1}, or build the backbone with the right number of classes.`,
      );
    }
  }
}
