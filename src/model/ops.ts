// Layer maths shared by the networks, written only with ops whose gradients tfjs can differentiate again
// (the discriminator's penalty is a gradient of a gradient).
import * as tf from '@tensorflow/tfjs-core';

/** Kernel names of LeakyReLU and its gradient where a backend registers them (src/model/wasm-kernels.ts). */
export const LEAKY_RELU = 'DfganLeakyRelu';
export const LEAKY_RELU_GRAD = 'DfganLeakyReluGrad';
/** One Adam update of a parameter (src/training/adam.ts uses it where the backend has it). */
export const ADAM_UPDATE = 'DfganAdamUpdate';

const leakyReluGrad = (dy: tf.Tensor, x: tf.Tensor, alpha: number): tf.Tensor =>
  tf.engine().runKernel(LEAKY_RELU_GRAD, { dy, x }, { alpha } as unknown as tf.NamedAttrMap) as tf.Tensor;

// d/dx [dy * f'(x)] is zero almost everywhere, and d/d(dy) is the same gradient again: so both kernels are
// differentiable to any order.
tf.registerGradient({
  kernelName: LEAKY_RELU,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => ({ x: () => leakyReluGrad(dy as tf.Tensor, saved[0], (attrs as unknown as tf.LeakyReluAttrs).alpha) }),
});
tf.registerGradient({
  kernelName: LEAKY_RELU_GRAD,
  inputsToSave: ['x'],
  gradFunc: (ddy, saved, attrs) => ({
    dy: () => leakyReluGrad(ddy as tf.Tensor, saved[0], (attrs as unknown as tf.LeakyReluAttrs).alpha),
    x: () => tf.zerosLike(saved[0]),
  }),
});

/**
 * LeakyReLU, differentiable twice (the discriminator's penalty is a gradient of a gradient). On a backend with
 * the project's kernels (wasm), one kernel each way; elsewhere `twice` picks 0.2x + 0.8 relu(x) (same values,
 * differentiable again) over tf.leakyRelu (whose gradient is not).
 */
export function leakyRelu(x: tf.Tensor, alpha = 0.2, twice = true): tf.Tensor {
  if (tf.getKernel(LEAKY_RELU, tf.getBackend())) {
    return tf.engine().runKernel(LEAKY_RELU, { x }, { alpha } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return twice ? tf.add(tf.mul(x, alpha), tf.mul(tf.relu(x), 1 - alpha)) : tf.leakyRelu(x, alpha);
}

export const AVG_POOL2 = 'DfganAvgPool2';
export const AVG_POOL2_GRAD = 'DfganAvgPool2Grad';

// Linear maps, each the other's adjoint: differentiable to any order.
tf.registerGradient({
  kernelName: AVG_POOL2,
  gradFunc: (dy) => ({ x: () => tf.engine().runKernel(AVG_POOL2_GRAD, { dy: dy as tf.Tensor }) as tf.Tensor }),
});
tf.registerGradient({
  kernelName: AVG_POOL2_GRAD,
  gradFunc: (ddy) => ({ dy: () => tf.engine().runKernel(AVG_POOL2, { x: ddy as tf.Tensor }) as tf.Tensor }),
});

/**
 * 2x2 average pool, stride 2, NHWC, differentiable twice (tf.avgPool is not): the project's kernel where the
 * backend has it (wasm), else reshape and mean.
 */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (h % 2 === 0 && w % 2 === 0 && tf.getKernel(AVG_POOL2, tf.getBackend())) {
    return tf.engine().runKernel(AVG_POOL2, { x }) as tf.Tensor4D;
  }
  return tf.mean(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D;
}

/**
 * Nearest-neighbour x2 upsampling, NHWC (PyTorch's F.interpolate(scale_factor=2)), as a broadcast product with
 * ones: same values as tf.image.resizeNearestNeighbor, and a gradient (a sum) that is right on every backend
 * (tfjs 4.22's cpu ResizeNearestNeighborGrad mixes up batch entries for batch >= 2).
 */
export function upsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => tf.reshape(tf.mul(tf.reshape(x, [b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [b, 2 * h, 2 * w, c]) as tf.Tensor4D);
}

/** x @ W + b for x [B, in], W [in, out]. */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  const y = tf.matMul(x, weight as tf.Tensor2D);
  return (bias ? tf.add(y, bias) : y) as tf.Tensor2D;
}

/** 2-D convolution NHWC with PyTorch-style symmetric zero padding `pad` and optional bias. */
export function conv2d(x: tf.Tensor4D, weight: tf.Tensor, bias: tf.Tensor | undefined, stride: number, pad: number): tf.Tensor4D {
  const padding: 'valid' | [[0, 0], [number, number], [number, number], [0, 0]] =
    pad === 0 ? 'valid' : [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  const y = tf.conv2d(x, weight as tf.Tensor4D, stride, padding);
  return (bias ? tf.add(y, bias) : y) as tf.Tensor4D;
}
