"""The custom Keras layer alexconv writes for local response normalisation (LRN).

Keras has no standard LRN layer, so a model with LRN (caffe-alexnet, caffenet, alexnet-v1/v2) is
exported with layers of class ``LocalResponseNormalization``. Load such a file with:

    from alexconv_keras_layers import LocalResponseNormalization
    model = keras.models.load_model("model.h5",
                                    custom_objects={"LocalResponseNormalization": LocalResponseNormalization})

The config uses TensorFlow's spelling (``tf.nn.local_response_normalization``): ``depth_radius`` r
(window 2r+1 channels), ``bias``, ``alpha`` (per element, NOT divided by the window: Caffe's
alpha 1e-4 over 5 channels is 2e-5 here) and ``beta``:
    y = x / (bias + alpha * sum_{c' in [c-r, c+r]} x[c']^2) ** beta       (channels last)

The same class works with Keras 3 (any backend: it uses keras.ops only) and with tf-keras (pass
``LocalResponseNormalizationTF`` under the same key).
"""
import keras
from keras import ops


class LocalResponseNormalization(keras.layers.Layer):
    """Across-channel LRN over the last axis, TensorFlow's definition (Keras 3)."""

    def __init__(self, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, x):
        r = self.depth_radius
        squared = ops.square(x)
        padded = ops.pad(squared, [[0, 0], [0, 0], [0, 0], [r, r]])
        channels = ops.shape(x)[-1]
        window = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            window = window + padded[..., offset:offset + channels]
        return x / ops.power(self.bias + self.alpha * window, self.beta)

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config


def tf_keras_layer():
    """The same layer for tf-keras (Keras 2), built on tf.nn.local_response_normalization."""
    import tensorflow as tf
    import tf_keras

    class LocalResponseNormalizationTF(tf_keras.layers.Layer):
        def __init__(self, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, **kwargs):
            super().__init__(**kwargs)
            self.depth_radius, self.bias, self.alpha, self.beta = int(depth_radius), float(bias), float(alpha), float(beta)

        def call(self, x):
            return tf.nn.local_response_normalization(x, self.depth_radius, self.bias, self.alpha, self.beta)

        def get_config(self):
            config = super().get_config()
            config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
            return config

    return LocalResponseNormalizationTF
