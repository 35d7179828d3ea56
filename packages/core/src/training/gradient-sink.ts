import * as tf from '@tensorflow/tfjs-core';

/**
 * Sums the gradients a step produces, by variable; it owns (and disposes) every tensor given to it
 * until `take` hands some over.
 */
export class GradientSink {
  readonly gradients = new Map<tf.Variable, tf.Tensor>();

  add(variable: tf.Variable, gradient: tf.Tensor): void {
    const previous = this.gradients.get(variable);
    if (previous) {
      this.gradients.set(variable, tf.add(previous, gradient));
      previous.dispose();
      gradient.dispose();
    } else this.gradients.set(variable, gradient);
  }

  /** Adds a layer backward's gradients, named as `parameters` names the variables. */
  addNamed(gradients: Record<string, tf.Tensor> | undefined, parameters: ReadonlyMap<string, tf.Variable>): void {
    for (const [name, g] of Object.entries(gradients ?? {})) {
      const variable = parameters.get(name);
      if (!variable) throw new Error(`internal: gradient for unknown parameter ${name}`);
      this.add(variable, g);
    }
  }

  /** Removes and returns the gradients of `variables` that have one; the caller owns them. */
  take(variables: Iterable<tf.Variable>): Map<tf.Variable, tf.Tensor> {
    const part = new Map<tf.Variable, tf.Tensor>();
    for (const v of variables) {
      const g = this.gradients.get(v);
      if (g) {
        part.set(v, g);
        this.gradients.delete(v);
      }
    }
    return part;
  }

  dispose(): void {
    for (const g of this.gradients.values()) g.dispose();
    this.gradients.clear();
  }
}
