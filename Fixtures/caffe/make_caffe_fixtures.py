#!/usr/bin/env python3
"""Writes the Caffe fixtures alexconv's tests read (Fixtures/caffe/).

Run with the fixture venv:   "$(Fixtures/venv.sh)" Fixtures/caffe/make_caffe_fixtures.py

The messages come from Caffe's own caffe.proto (Sources/AlexConvCaffe/Proto/caffe.proto, BVLC's file
unchanged), compiled to Python by protoc (/usr/bin/protoc --python_out) into a temporary directory;
every caffemodel, prototxt and binaryproto here is written by Python protobuf from those messages
(SerializeToString, text_format.MessageToString), as pycaffe and Caffe's tools write them. Weights are
drawn with np.random.default_rng(seed): rerunning reproduces every file bit for bit.

Goldens come from two independent references: OpenCV dnn (cv2.dnn.readNetFromCaffe on the same
prototxt + caffemodel; opencv-python-headless 4.x, whose 5.x dropped the Caffe importer) and
TensorFlow ops on the same weights (tf.nn.conv2d per group, local_response_normalization, max_pool
padded to Caffe's ceil rounding, batch_normalization).

Fixtures (tiny widths conv [8,16,24,24,16], fc [32,32], 10 classes, 227x227x3 input):
  zoo_alexnet/bvlc_alexnet.caffemodel  V1 `layers` (enum types), as the 2014 zoo files: the train_val
        net (DATA layers for TRAIN and TEST with crop_size 227 and a mean_file, ACCURACY at TEST,
        SOFTMAX_LOSS), AlexNet order (LRN then pool), legacy blob dims num/channels/height/width
        (fc weights (1, 1, out, in), biases (1, 1, 1, out)), blobs_lr and weight_decay.
  zoo_alexnet/deploy.prototxt          the V1 deploy net beside it (input + input_dim, SOFTMAX 'prob').
  caffenet/caffenet.caffemodel         current `layer` (string types, BlobShape), the train_val net of
        bvlc_reference_caffenet: CaffeNet order (pool then LRN), Data layers with include rules.
  caffenet/deploy.prototxt             its deploy net (an Input layer, Softmax 'prob').
  bn/bn_tiny.caffemodel                a deploy net saved whole (Input layer inside the caffemodel):
        conv -> ReLU -> BatchNorm (eps 1e-3, moving-average factor 999.5) -> Scale (bias) in every
        block, pools after 1, 2, 5; no prototxt beside it.
  double/double_tiny.caffemodel        AlexNet order with every blob in double_data (values that are
        not float32), net-level `input` + `input_shape`, no prototxt.
  imagenet_mean_tiny.binaryproto       a 1x3x256x256 mean BlobProto with legacy dims, BGR, values in
        steps of 1/8 (as compute_image_mean writes one).
Per model <dir>/<name>:
  <name>_expected.safetensors  the canonical tensors (conv1.weight ... fc8.bias, bnK.*) the reader must
                               give, bit for bit (float64 for the double_data model)
  <name>_opencv.npy            cv2.dnn's output for input.npy (the deploy net: probabilities)
  <name>_tf.npy                TensorFlow ops' logits for input.npy (before the final softmax)
input.npy: uint8 (2, 3, 227, 227), shared by every model; the float32 network input is (u8 - 128) / 32.
Hostile inputs (hostile/): mixed_layer_layers.caffemodel (both generations in one net, which Caffe
refuses), count_mismatch.caffemodel (a blob whose data does not fill its shape), bad_syntax.prototxt,
unknown_type.prototxt (an Eltwise layer), bad_group.prototxt (group 3 on 8 channels).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROTO = os.path.join(REPO, "Sources", "AlexConvCaffe", "Proto", "caffe.proto")
CONV = [8, 16, 24, 24, 16]
FC = [32, 32]
CLASSES = 10
SIZE = 227

_work = tempfile.mkdtemp(prefix="caffe-proto-")
subprocess.run(["protoc", f"--proto_path={os.path.dirname(PROTO)}", f"--python_out={_work}", PROTO], check=True)
sys.path.insert(0, _work)
import caffe_pb2  # noqa: E402
from google.protobuf import text_format  # noqa: E402


def coded_input():
    u8 = np.random.default_rng(10).integers(0, 256, size=(2, 3, SIZE, SIZE), dtype=np.uint8)
    return u8, (u8.astype(np.float32) - 128.0) / 32.0


# MARK: - Weights and structure

def alexnet_layers(order, batchnorm=False):
    """The layer chain: ('conv', name, out, k, s, p, g) ... in AlexNet or CaffeNet order, or keras-bn."""
    groups = [1, 1, 1, 1, 1] if batchnorm else [1, 2, 1, 2, 2]
    geometry = [(11, 4, 0), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)]
    chain = []
    for i, (out, (k, s, p), g) in enumerate(zip(CONV, geometry, groups), start=1):
        chain.append(("conv", f"conv{i}", out, k, s, p, g))
        chain.append(("relu", f"relu{i}"))
        if batchnorm:
            chain.append(("bn", f"bn{i}"))
            if i in (1, 2, 5):
                chain.append(("pool", f"pool{i}"))
            continue
        if i in (1, 2):
            block = [("lrn", f"norm{i}"), ("pool", f"pool{i}")]
            chain += block if order == "alexnet" else block[::-1]
        if i == 5:
            chain.append(("pool", "pool5"))
    for i, out in enumerate(FC + [CLASSES], start=6):
        chain.append(("fc", f"fc{i}", out))
        if i < 8:
            chain.append(("relu", f"relu{i}"))
            chain.append(("drop", f"drop{i}"))
    return chain


def make_weights(chain, seed, dtype=np.float32):
    """Canonical tensors per layer, drawn from rng; conv (out, in/g, k, k), fc (out, in) with C,H,W order."""
    rng = np.random.default_rng(seed)
    weights = {}
    channels, size = 3, SIZE
    for layer in chain:
        kind = layer[0]
        if kind == "conv":
            _, name, out, k, s, p, g = layer
            # He-style scales (conv1 larger), so activations reach the range where LRN matters.
            std = np.sqrt(2.0 / (channels // g * k * k)) * (4.0 if name == "conv1" else 1.0)
            weights[name] = [(rng.standard_normal((out, channels // g, k, k)) * std).astype(dtype),
                             (rng.standard_normal(out) * 0.1).astype(dtype)]
            channels, size = out, (size + 2 * p - k) // s + 1
        elif kind == "pool":
            size = int(np.ceil((size - 3) / 2)) + 1
        elif kind == "bn":
            name = layer[1]
            weights[name] = [(rng.standard_normal(channels) * 0.1).astype(dtype),          # mean
                             (rng.random(channels) + 0.5).astype(dtype),                    # variance
                             (rng.random(channels) * 0.5 + 0.75).astype(dtype),             # gamma
                             (rng.standard_normal(channels) * 0.1).astype(dtype)]           # beta
        elif kind == "fc":
            _, name, out = layer
            inputs = channels * size * size
            # fc8 smaller, so the logits are a few units and the probabilities do not saturate.
            std = np.sqrt(2.0 / inputs) * (0.1 if out == CLASSES else 1.0)
            weights[name] = [(rng.standard_normal((out, inputs)) * std).astype(dtype),
                             (rng.standard_normal(out) * 0.1).astype(dtype)]
            channels, size = out, 1
    if dtype == np.float64:
        # Values a float32 cannot hold: the reader must keep them as they are.
        for name in weights:
            weights[name] = [w + 1e-12 for w in weights[name]]
    return weights


def canonical(chain, weights):
    tensors = {}
    for layer in chain:
        kind, name = layer[0], layer[1]
        if kind in ("conv", "fc"):
            tensors[f"{name}.weight"], tensors[f"{name}.bias"] = weights[name]
        elif kind == "bn":
            mean, var, gamma, beta = weights[name]
            tensors[f"{name}.weight"], tensors[f"{name}.bias"] = gamma, beta
            tensors[f"{name}.running_mean"], tensors[f"{name}.running_var"] = mean, var
    return tensors


# MARK: - Writing nets

V1 = caffe_pb2.V1LayerParameter


def fill_blob(blob, array, legacy=False, double=False):
    if legacy:
        dims = [1] * (4 - array.ndim) + list(array.shape)
        blob.num, blob.channels, blob.height, blob.width = dims
    else:
        blob.shape.dim.extend(array.shape)
    if double:
        blob.double_data.extend(array.astype(np.float64).ravel().tolist())
    else:
        blob.data.extend(array.astype(np.float32).ravel().tolist())


def add_chain(net, chain, weights, v1=False, legacy=False, double=False, with_blobs=True, factor=1.0, softmax=False):
    """Appends the chain's layers (V1 `layers` or current `layer`) starting from blob 'data'."""
    bottom = "data"
    def new(kind_v1, kind, name, top=None, inplace=False):
        layer = net.layers.add() if v1 else net.layer.add()
        layer.name = name
        if v1:
            layer.type = kind_v1
        else:
            layer.type = kind
        layer.bottom.append(bottom)
        layer.top.append(bottom if inplace else (top or name))
        return layer
    for item in chain:
        kind, name = item[0], item[1]
        if kind == "conv":
            _, _, out, k, s, p, g = item
            layer = new(V1.CONVOLUTION, "Convolution", name)
            cp = layer.convolution_param
            cp.num_output = out
            if v1:
                cp.kernel_size.append(k); cp.stride.append(s)
                if p: cp.pad.append(p)
            else:
                cp.kernel_size.append(k); cp.stride.append(s)
                if p: cp.pad.append(p)
            if g != 1: cp.group = g
            if v1:
                layer.blobs_lr.extend([1, 2]); layer.weight_decay.extend([1, 0])
            if with_blobs:
                for w in weights[name]:
                    fill_blob(layer.blobs.add(), w, legacy, double)
            bottom = name
        elif kind == "relu":
            new(V1.RELU, "ReLU", name, inplace=True)
        elif kind == "lrn":
            layer = new(V1.LRN, "LRN", name)
            layer.lrn_param.local_size = 5
            layer.lrn_param.alpha = 0.0001
            layer.lrn_param.beta = 0.75
            bottom = name
        elif kind == "pool":
            layer = new(V1.POOLING, "Pooling", name)
            layer.pooling_param.pool = caffe_pb2.PoolingParameter.MAX
            layer.pooling_param.kernel_size = 3
            layer.pooling_param.stride = 2
            bottom = name
        elif kind == "bn":
            layer = new(None, "BatchNorm", name, inplace=True)
            layer.batch_norm_param.eps = 1e-3
            if with_blobs:
                mean, var, gamma, beta = weights[name]
                fill_blob(layer.blobs.add(), (mean * factor).astype(np.float32))
                fill_blob(layer.blobs.add(), (var * factor).astype(np.float32))
                fill_blob(layer.blobs.add(), np.array([factor], dtype=np.float32))
            scale = new(None, "Scale", name.replace("bn", "scale"), inplace=True)
            scale.scale_param.bias_term = True
            if with_blobs:
                fill_blob(scale.blobs.add(), gamma)
                fill_blob(scale.blobs.add(), beta)
        elif kind == "fc":
            _, _, out = item
            layer = new(V1.INNER_PRODUCT, "InnerProduct", name)
            layer.inner_product_param.num_output = out
            if v1:
                layer.blobs_lr.extend([1, 2]); layer.weight_decay.extend([1, 0])
            if with_blobs:
                for w in weights[name]:
                    fill_blob(layer.blobs.add(), w, legacy, double)
            bottom = name
        elif kind == "drop":
            layer = new(V1.DROPOUT, "Dropout", name, inplace=True)
            layer.dropout_param.dropout_ratio = 0.5
    if softmax:
        new(V1.SOFTMAX, "Softmax", "prob")
    return bottom


def data_layers(net, v1):
    """TRAIN and TEST database layers with crop_size 227 and the zoo's mean_file, as train_val nets have."""
    for phase in (caffe_pb2.TRAIN, caffe_pb2.TEST):
        layer = net.layers.add() if v1 else net.layer.add()
        layer.name = "data"
        if v1:
            layer.type = V1.DATA
        else:
            layer.type = "Data"
        layer.top.extend(["data", "label"])
        layer.include.add().phase = phase
        layer.transform_param.crop_size = SIZE
        layer.transform_param.mirror = phase == caffe_pb2.TRAIN
        layer.transform_param.mean_file = "data/ilsvrc12/imagenet_mean.binaryproto"
        layer.data_param.source = "examples/imagenet/ilsvrc12_%s_lmdb" % ("train" if phase == caffe_pb2.TRAIN else "val")
        layer.data_param.batch_size = 256 if phase == caffe_pb2.TRAIN else 50
        layer.data_param.backend = caffe_pb2.DataParameter.LMDB


def loss_layers(net, v1, top):
    accuracy = net.layers.add() if v1 else net.layer.add()
    accuracy.name = "accuracy"
    if v1:
        accuracy.type = V1.ACCURACY
    else:
        accuracy.type = "Accuracy"
    accuracy.bottom.extend([top, "label"]); accuracy.top.append("accuracy")
    accuracy.include.add().phase = caffe_pb2.TEST
    loss = net.layers.add() if v1 else net.layer.add()
    loss.name = "loss"
    if v1:
        loss.type = V1.SOFTMAX_LOSS
    else:
        loss.type = "SoftmaxWithLoss"
    loss.bottom.extend([top, "label"]); loss.top.append("loss")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# MARK: - References

def opencv_forward(prototxt, caffemodel, x):
    import cv2
    net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setInput(x)
    return np.asarray(net.forward(), dtype=np.float32).reshape(x.shape[0], -1)


def caffe_pool_size(size, k=3, s=2, p=0):
    out = int(np.ceil((size + 2 * p - k) / s)) + 1
    if p and (out - 1) * s >= size + p:
        out -= 1
    return out


def tf_forward(chain, tensors, x):
    """Logits of the chain with TensorFlow ops (NHWC), weights from the canonical tensors."""
    import tensorflow as tf
    h = tf.constant(np.transpose(x, (0, 2, 3, 1)).astype(np.float32))
    for item in chain:
        kind, name = item[0], item[1]
        if kind == "conv":
            _, _, out, k, s, p, g = item
            w = tensors[f"{name}.weight"].astype(np.float32)
            b = tensors[f"{name}.bias"].astype(np.float32)
            h = tf.pad(h, [[0, 0], [p, p], [p, p], [0, 0]])
            inputs = tf.split(h, g, axis=3)
            filters = np.split(w, g, axis=0)
            outs = [tf.nn.conv2d(i, np.transpose(f, (2, 3, 1, 0)), strides=s, padding="VALID") for i, f in zip(inputs, filters)]
            h = tf.concat(outs, axis=3) + b
        elif kind == "relu":
            h = tf.nn.relu(h)
        elif kind == "lrn":
            h = tf.nn.local_response_normalization(h, depth_radius=2, bias=1.0, alpha=0.0001 / 5, beta=0.75)
        elif kind == "pool":
            size = h.shape[1]
            out = caffe_pool_size(size)
            extra = (out - 1) * 2 + 3 - size
            h = tf.pad(h, [[0, 0], [0, extra], [0, extra], [0, 0]], constant_values=-np.inf)
            h = tf.nn.max_pool2d(h, 3, 2, "VALID")
        elif kind == "bn":
            h = tf.nn.batch_normalization(h, tensors[f"{name}.running_mean"].astype(np.float32),
                                          tensors[f"{name}.running_var"].astype(np.float32),
                                          tensors[f"{name}.bias"].astype(np.float32),
                                          tensors[f"{name}.weight"].astype(np.float32), 1e-3)
        elif kind == "fc":
            if len(h.shape) == 4:
                h = tf.reshape(tf.transpose(h, (0, 3, 1, 2)), (h.shape[0], -1))
            h = tf.matmul(h, tensors[f"{name}.weight"].astype(np.float32), transpose_b=True) + tensors[f"{name}.bias"].astype(np.float32)
    return h.numpy().astype(np.float32)


def save_expected(folder, name, tensors):
    from safetensors.numpy import save_file
    path = os.path.join(folder, f"{name}_expected.safetensors")
    save_file(tensors, path)
    os.chmod(path, 0o644)


def save_goldens(folder, name, tensors, prototxt, caffemodel, chain):
    save_expected(folder, name, tensors)
    _, x = coded_input()
    np.save(os.path.join(folder, f"{name}_opencv.npy"), opencv_forward(prototxt, caffemodel, x))
    np.save(os.path.join(folder, f"{name}_tf.npy"), tf_forward(chain, tensors, x))


def deploy_net(name, chain, v1, input_layer):
    net = caffe_pb2.NetParameter()
    net.name = name
    if input_layer:
        layer = net.layer.add()
        layer.name, layer.type = "data", "Input"
        layer.top.append("data")
        layer.input_param.shape.add().dim.extend([10, 3, SIZE, SIZE])
    else:
        net.input.append("data")
        net.input_dim.extend([10, 3, SIZE, SIZE])
    add_chain(net, chain, None, v1=v1, with_blobs=False, softmax=True)
    return net


def main():
    np.save(os.path.join(HERE, "input.npy"), coded_input()[0])
    # zoo_alexnet: V1 layers, legacy dims, train_val net + V1 deploy prototxt.
    folder = os.path.join(HERE, "zoo_alexnet")
    chain = alexnet_layers("alexnet")
    weights = make_weights(chain, seed=1)
    net = caffe_pb2.NetParameter()
    net.name = "AlexNet"
    data_layers(net, v1=True)
    top = add_chain(net, chain, weights, v1=True, legacy=True)
    loss_layers(net, True, top)
    model = os.path.join(folder, "bvlc_alexnet.caffemodel")
    write(model, net.SerializeToString())
    deploy = os.path.join(folder, "deploy.prototxt")
    write(deploy, text_format.MessageToString(deploy_net("AlexNet", chain, v1=True, input_layer=False)).encode())
    save_goldens(folder, "bvlc_alexnet", canonical(chain, weights), deploy, model, chain)

    # caffenet: current layer format, CaffeNet order, train_val net + deploy with an Input layer.
    folder = os.path.join(HERE, "caffenet")
    chain = alexnet_layers("caffenet")
    weights = make_weights(chain, seed=2)
    net = caffe_pb2.NetParameter()
    net.name = "CaffeNet"
    data_layers(net, v1=False)
    top = add_chain(net, chain, weights)
    loss_layers(net, False, top)
    model = os.path.join(folder, "caffenet.caffemodel")
    write(model, net.SerializeToString())
    deploy = os.path.join(folder, "deploy.prototxt")
    write(deploy, text_format.MessageToString(deploy_net("CaffeNet", chain, v1=False, input_layer=True)).encode())
    save_goldens(folder, "caffenet", canonical(chain, weights), deploy, model, chain)

    # bn: a whole deploy net (Input layer) with BatchNorm + Scale, moving-average factor 999.5.
    folder = os.path.join(HERE, "bn")
    chain = alexnet_layers("alexnet", batchnorm=True)
    weights = make_weights(chain, seed=3)
    net = deploy_net("BNNet", chain, v1=False, input_layer=True)
    del net.layer[1:]
    add_chain(net, chain, weights, factor=999.5, softmax=True)
    model = os.path.join(folder, "bn_tiny.caffemodel")
    write(model, net.SerializeToString())
    with tempfile.TemporaryDirectory() as tmp:
        deploy = os.path.join(tmp, "deploy.prototxt")
        write(deploy, text_format.MessageToString(deploy_net("BNNet", chain, v1=False, input_layer=True)).encode())
        # Caffe divides the stored statistics by the factor in float: the canonical tensors are those quotients.
        expected = canonical(chain, weights)
        for layer in chain:
            if layer[0] == "bn":
                scale = np.float32(1) / np.float32(999.5)
                for key, index in (("running_mean", 0), ("running_var", 1)):
                    stored = (weights[layer[1]][index] * np.float32(999.5)).astype(np.float32)
                    expected[f"{layer[1]}.{key}"] = (stored * scale).astype(np.float32)
        save_goldens(folder, "bn_tiny", expected, deploy, model, chain)

    # double: every blob in double_data, net-level input + input_shape.
    folder = os.path.join(HERE, "double")
    chain = alexnet_layers("alexnet")
    weights = make_weights(chain, seed=4, dtype=np.float64)
    net = caffe_pb2.NetParameter()
    net.name = "DoubleNet"
    net.input.append("data")
    net.input_shape.add().dim.extend([1, 3, SIZE, SIZE])
    add_chain(net, chain, weights, double=True, softmax=True)
    model = os.path.join(folder, "double_tiny.caffemodel")
    write(model, net.SerializeToString())
    tensors = canonical(chain, weights)
    save_expected(folder, "double_tiny", tensors)
    _, x = coded_input()
    np.save(os.path.join(folder, "double_tiny_tf.npy"), tf_forward(chain, tensors, x))

    # The mean file: 1x3x256x256, legacy dims, BGR, steps of 1/8.
    yy, xx = np.mgrid[0:256, 0:256]
    mean = np.stack([104 + 8 * np.sin(yy / 40.0), 117 + 6 * np.cos(xx / 33.0), 123 + (yy - xx) / 64.0])
    mean = (np.round(mean * 8) / 8).astype(np.float32)
    blob = caffe_pb2.BlobProto()
    blob.num, blob.channels, blob.height, blob.width = 1, 3, 256, 256
    blob.data.extend(mean.ravel().tolist())
    write(os.path.join(HERE, "imagenet_mean_tiny.binaryproto"), blob.SerializeToString())

    # Hostile inputs.
    hostile = os.path.join(HERE, "hostile")
    chain = alexnet_layers("alexnet")
    weights = make_weights(chain, seed=5)
    mixed = caffe_pb2.NetParameter()
    mixed.name = "Mixed"
    mixed.input.append("data")
    mixed.input_shape.add().dim.extend([1, 3, SIZE, SIZE])
    add_chain(mixed, chain[:2], weights, v1=False)
    add_chain(mixed, chain[:2], weights, v1=True, legacy=True)
    write(os.path.join(hostile, "mixed_layer_layers.caffemodel"), mixed.SerializeToString())
    short = caffe_pb2.NetParameter()
    short.name = "Short"
    short.input.append("data")
    short.input_shape.add().dim.extend([1, 3, SIZE, SIZE])
    add_chain(short, chain, weights)
    del short.layer[0].blobs[0].data[100:]
    write(os.path.join(hostile, "count_mismatch.caffemodel"), short.SerializeToString())
    caffenet_deploy = open(os.path.join(HERE, "caffenet", "deploy.prototxt")).read()
    assert "kernel_size: 5" in caffenet_deploy
    write(os.path.join(hostile, "bad_syntax.prototxt"), caffenet_deploy.replace("kernel_size: 5", "kernel_size: five", 1).encode())
    write(os.path.join(hostile, "unknown_type.prototxt"), caffenet_deploy.replace('type: "LRN"', 'type: "Eltwise"', 1).encode())
    write(os.path.join(hostile, "bad_group.prototxt"), caffenet_deploy.replace("group: 2", "group: 3", 1).encode())
    print("wrote Fixtures/caffe")


if __name__ == "__main__":
    main()
