import { BenchOptionError } from '../errors.js';
import { importPluginPackage } from './import-package.js';

/** InfoPro's four loss weights, as `--infopro-lambda` takes them. */
export const INFOPRO_LAMBDA_NAMES = ['ixx1', 'ixy1', 'ixx2', 'ixy2'] as const;

/**
 * Before anything trains: a contrastive InfoPro configuration without --infopro-lambda needs the
 * InfoPro paper's λ for its (dataset, network, K), which the paper gives only for the settings it
 * trained. A missing one is a usage error in this command line's words.
 */
export async function checkInfoProLambda(context: { dataset: string; network: string; modules: number; balancedSplit: boolean }): Promise<void> {
  const { LAMBDA_PRESETS, INFOPRO_DATASETS } = await importPluginPackage('@mlaan/infopro', "Framework 'infopro'", () => import('@mlaan/infopro'));
  if (!INFOPRO_DATASETS.includes(context.dataset as never)) return;
  const { modules, balancedSplit } = context;
  const sameSetting = LAMBDA_PRESETS.filter((p) => p.dataset === context.dataset && p.net === context.network && p.balancedMemory === balancedSplit);
  if (sameSetting.some((p) => p.K === modules)) return;
  const Ks = sameSetting.map((p) => p.K);
  throw new BenchOptionError(
    `The InfoPro paper gives no λ for ${context.dataset}, ${context.network}, K=${modules}${balancedSplit ? ' (--split balanced)' : ''}. ` +
      `Give the weights with --infopro-lambda ${INFOPRO_LAMBDA_NAMES.join(',')} (e.g. --infopro-lambda 5,0.5,0,0)` +
      (Ks.length > 0 ? `, or use a K the paper tuned: --K ${Ks.join(' / ')}` : '') +
      ', or --infopro-task cross-entropy (the MLAAN runs’ fixed λ 5,0.5,0,0).',
  );
}
