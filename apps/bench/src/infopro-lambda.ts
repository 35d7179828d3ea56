import { InvalidArgumentError } from 'commander';
import type { RunConfig } from './config.js';
import { BenchOptionError } from './errors.js';
import { importPluginPackage } from './registry/import-package.js';
import { moduleCount } from './train.js';

const LAMBDA_NAMES = ['ixx1', 'ixy1', 'ixx2', 'ixy2'] as const;

/** `--infopro-lambda 5,0.5,0,0`: InfoPro's four loss weights, each a finite number >= 0. */
export function parseInfoProLambda(value: string): number[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.length !== 4) {
    throw new InvalidArgumentError(
      `Expected four comma-separated numbers ${LAMBDA_NAMES.join(',')} (reconstruction and task weights at the first and last local module), e.g. 5,0.5,0,0.`,
    );
  }
  return items.map((item, index) => {
    const n = Number(item);
    if (item === '' || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${LAMBDA_NAMES[index]} is '${item}'; each weight must be a number >= 0 (0 switches that loss off).`);
    }
    return n;
  });
}

/**
 * Before anything trains: every contrastive InfoPro configuration without --infopro-lambda needs
 * the InfoPro paper's λ for its (dataset, network, K), which the paper gives only for the settings
 * it trained. A missing one is a usage error in this command line's words.
 */
export async function checkInfoProLambdas(configs: readonly RunConfig[]): Promise<void> {
  const needPaperLambda = configs.filter((c) => c.framework === 'infopro' && c.infoproTask === 'contrast' && c.infoproLambda === undefined);
  if (needPaperLambda.length === 0) return;
  const { LAMBDA_PRESETS, INFOPRO_DATASETS } = await importPluginPackage('@mlaan/infopro', "Framework 'infopro'", () => import('@mlaan/infopro'));
  for (const config of needPaperLambda) {
    if (!INFOPRO_DATASETS.includes(config.dataset as never)) continue;
    const modules = moduleCount(config);
    const balancedMemory = config.split === 'balanced';
    const sameSetting = LAMBDA_PRESETS.filter((p) => p.dataset === config.dataset && p.net === config.network && p.balancedMemory === balancedMemory);
    if (sameSetting.some((p) => p.K === modules)) continue;
    const Ks = sameSetting.map((p) => p.K);
    throw new BenchOptionError(
      `The InfoPro paper gives no λ for ${config.dataset}, ${config.network}, K=${modules}${balancedMemory ? ' (--split balanced)' : ''}. ` +
        `Give the weights with --infopro-lambda ${LAMBDA_NAMES.join(',')} (e.g. --infopro-lambda 5,0.5,0,0)` +
        (Ks.length > 0 ? `, or use a K the paper tuned: --K ${Ks.join(' / ')}` : '') +
        ', or --infopro-task cross-entropy (the MLAAN runs’ fixed λ 5,0.5,0,0).',
    );
  }
}
