// Layer maths shared by the networks, written only with ops whose gradients tfjs can differentiate again
// (the discriminator's penalty is a gradient of a gradient).
import * as tf from '@tensorflow/tfjs-core';

/** LeakyReLU(0.2) as 0.2x + 0.8 relu(x): same values as tf.leakyRelu, but twice differentiable. */
export function leakyRelu(x: tf.Tensor, alpha = 0.2): tf.Tensor {
  return tf.add(tf.mul(x, alpha), tf.mul(tf.relu(x), 1 - alpha));
}

/** 2x2 average pool, stride 2, NHWC, by reshape and mean (tf.avgPool has no second derivative). */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
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
