import * as tf from '@tensorflow/tfjs-core';
import { GlobalAveragePool } from '../layers/pooling.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import type { NamedVariable } from '../layers/layer.js';
import { prefixed } from '../layers/layer.js';
import { SeededRandom } from '../random.js';
import { crossEntropy } from './losses.js';
import type { Head, LocalLearningPlugin, LossTerm } from './plugin.js';

/** A minimal host for tests: GAP + Linear + cross-entropy per (module, role). */
export function linearHeadHost(options: { terms?: (terms: LossTerm[]) => LossTerm[] } = {}): LocalLearningPlugin {
  const random = new SeededRandom(21);
  return {
    name: 'test-linear-host',
    terms: options.terms ? (terms) => options.terms!(terms) : undefined,
    createHead(request) {
      if (request.isLast) return undefined;
      const prefix = `head.${request.moduleIndex}.${request.role}`;
      const net = new Sequential([
        ['', new GlobalAveragePool()],
        ['fc', new Linear({ inFeatures: request.input.channels, outFeatures: 3, random })],
      ]);
      const head: Head = {
        name: prefix,
        namedParameters: (): NamedVariable[] => prefixed(prefix, net.namedParameters()),
        loss: (features, batch, context) => tf.tidy(() => crossEntropy(net.apply(features, context), batch.labels)),
        dispose: () => net.dispose(),
      };
      return head;
    },
  };
}
