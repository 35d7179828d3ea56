/**
 * The multiply-adds of the convolutions and matrix products a training step ran, counted from
 * its kernels (tf.profile's records or benchmarks/lib/kernel-timer.ts's): the arithmetic the method
 * asks for, heads and auxiliary networks included, independent of how fast a backend runs it. A
 * multiply-add is two floating-point operations. Counts top-level kernels, so it is exact on
 * backends with native gradient kernels (onednn, cpu, tensorflow); wasm composes its filter
 * gradient from other kernels, which the profile would count twice.
 */
export interface KernelShapes {
  name: string;
  inputShapes: number[][];
  outputShapes: number[][];
}

export const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Multiply-adds of one kernel call (0 for every kernel that is not a convolution or a matrix product). */
export function kernelMultiplyAdds(kernel: KernelShapes): number {
  const [a, b] = kernel.inputShapes;
  const out = kernel.outputShapes[0];
  if (!a || !b || !out) return 0;
  switch (kernel.name) {
    case 'Conv2D':
    case 'FusedConv2D':
      return product(out) * b[0]! * b[1]! * b[2]!;
    case 'Conv2DBackpropInput':
      return product(a) * b[0]! * b[1]! * out[3]!;
    case 'Conv2DBackpropFilter':
      return product(b) * out[0]! * out[1]! * out[2]!;
    case 'BatchMatMul':
    case '_FusedMatMul':
    case 'MatMul':
      return product(out) * (a[a.length - 1] === out[out.length - 2] ? a[a.length - 2]! : a[a.length - 1]!);
    default:
      return 0;
  }
}

export function countMultiplyAdds(kernels: readonly KernelShapes[]): number {
  return kernels.reduce((total, kernel) => total + kernelMultiplyAdds(kernel), 0);
}
