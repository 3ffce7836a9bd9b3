// Scratch (deleted after): minimal gradient configs, to smoke-test the tf.grads path of the test file.
import * as tf from '@tensorflow/tfjs-core';
tf.registerGradient({ kernelName: 'Sum', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(tf.onesLike(x), dy as tf.Tensor) }) });
tf.registerGradient({ kernelName: 'Multiply', inputsToSave: ['a', 'b'], gradFunc: (dy, [a, b]) => ({ a: () => tf.mul(dy as tf.Tensor, b), b: () => tf.mul(dy as tf.Tensor, a) }) });
tf.registerGradient({ kernelName: 'Conv2D', inputsToSave: ['x', 'filter'], gradFunc: (dy, [x, f], attrs) => {
  const { strides, pad } = attrs as any;
  return {
    x: () => tf.conv2dTranspose(dy as tf.Tensor4D, f as tf.Tensor4D, x.shape as any, strides, pad),
    filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy as tf.Tensor }, { strides, pad, dataFormat: 'NHWC', filterShape: f.shape } as any) as tf.Tensor,
  };
} });
tf.registerGradient({ kernelName: 'GatherV2', inputsToSave: ['x', 'indices'], gradFunc: (dy, [x, ids]) => ({
  x: () => tf.unsortedSegmentSum(tf.reshape(dy as tf.Tensor, [ids.size, -1]), tf.reshape(ids, [ids.size]), x.shape[0]),
  indices: () => ids,
}) });
