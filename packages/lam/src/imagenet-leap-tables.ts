import { perBlockCuts } from '@mlaan/core';
import type { LeapBlock, LeapTable } from './leap-table.js';

/**
 * The leap lists of the MLAAN authors' ImageNet runs, as data (read from `ImageNet/networks/
 * configAux_new.py` of github Wendy231015/MLAAN; the partitions from `configs.py`).
 *
 * The authors' "K = 16" for ResNet-34 is one module per residual block (3 + 4 + 6 + 3 = 16, the
 * stem merged into the first), which is core's `getSplit({ net: 'resnet34', K: 'per-block' })`;
 * their ResNet-101 partition (`local_module_num` 33) is likewise one module per block
 * (3 + 4 + 23 + 3). `[stage, block]` numbering is the same as theirs: stage s is `layer<s>`.
 *
 * Kept as the authors wrote them, including what the general rule (`leapRule`) would not produce:
 * the stage-1 modules of ResNet-34 leap through five blocks, not four; modules ending in stage 3
 * stop at (4,1) rather than the last block; ResNet-34's module 13 (ending at (4,0)) copies (4,1)
 * twice; and the modules ending at (4,1) start with a copy of their own last block. The
 * authors' forward pass trains modules 0 and 1 only through the cascades of the modules after
 * them, so their lists (the stage-1 list, as module 2's) matter only for a host that gives every
 * module a LAM, as the `paper` profile does.
 *
 * The ImageNet runs use MLM's cascade window kc = 3 (`y = E[i-2](y); z = E[i-1](y); z = E[i](z)`
 * in `resnet34.py`), wx = 0.001, wy = 0.999 and EMA decay 0.995 (`--momentum2 0.995`): the `paper`
 * profiles of @mlaan/mlm and @mlaan/lam.
 */

const repeat = (list: readonly LeapBlock[], times: number): (readonly LeapBlock[])[] => Array.from({ length: times }, () => list);

/** Modules ending in stage 1 of ResNet-34. */
const resnet34StageOne: LeapBlock[] = [[2, 0], [2, 1], [3, 0], [4, 0], [4, 2]];
/** Modules ending in stage 2. */
const resnet34StageTwo: LeapBlock[] = [[2, 1], [3, 0], [4, 0], [4, 2]];
/** Modules ending in stage 3. */
const resnet34StageThree: LeapBlock[] = [[3, 1], [4, 0], [4, 1]];

export const IMAGENET_LEAP_TABLES: readonly LeapTable[] = [
  {
    net: 'resnet34',
    cuts: perBlockCuts([3, 4, 6, 3]),
    lists: [
      ...repeat(resnet34StageOne, 3),
      ...repeat(resnet34StageTwo, 4),
      ...repeat(resnet34StageThree, 6),
      [[4, 1], [4, 1], [4, 2]],
      [[4, 1], [4, 2]],
    ],
    source: 'MLAAN ImageNet/networks/configAux_new.py, ResNet-34 K=16 (one block per module)',
  },
  {
    net: 'resnet101',
    cuts: perBlockCuts([3, 4, 23, 3]),
    lists: [
      ...repeat([[2, 0], [3, 0], [4, 0], [4, 2]], 3),
      ...repeat([[3, 0], [4, 0], [4, 1]], 4),
      ...repeat([[4, 0], [4, 1]], 23),
      ...repeat([[4, 1], [4, 2]], 2),
    ],
    source: 'MLAAN ImageNet/networks/configAux_new.py, ResNet-101 K=33 (one block per module)',
  },
];
