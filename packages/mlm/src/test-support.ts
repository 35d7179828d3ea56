// Test-only helpers (not exported from the package).
import * as tf from '@tensorflow/tfjs-core';
import {
  crossEntropy,
  GlobalAveragePool,
  Head,
  Linear,
  LocalLearningPlugin,
  NamedVariable,
  prefixed,
  SeededRandom,
  Sequential,
} from '@mlaan/core';

/**
 * A minimal host: GAP + Linear + cross-entropy for every (module, role) but the last module, sized
 * from `request.input` (so a LAM in front of the head is accounted for).
 */
export function linearHost(seed = 21): LocalLearningPlugin {
  const random = new SeededRandom(seed);
  return {
    name: 'linear-host',
    createHead(request, context) {
      if (request.isLast) return undefined;
      const prefix = `head.${request.moduleIndex}.${request.role}`;
      const network = new Sequential([
        ['', new GlobalAveragePool()],
        ['fc', new Linear({ inFeatures: request.input.channels, outFeatures: context.classes, random })],
      ]);
      const head: Head = {
        name: prefix,
        namedParameters: (): NamedVariable[] => prefixed(prefix, network.namedParameters()),
        loss: (features, batch, ctx) => tf.tidy(() => crossEntropy(network.apply(features, ctx), batch.labels)),
        dispose: () => network.dispose(),
      };
      return head;
    },
  };
}

