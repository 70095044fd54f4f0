import AlexConvCore
import Foundation

// MARK: - Compiling a layer

extension Network {
    /// The compiled step of `layer`, which maps activations of shape `from` to `to`.
    static func compile(_ layer: LayerSpec, index: Int, from: ActivationShape, to: ActivationShape, model: Model) throws -> CompiledStep {
        func fail(_ message: String) -> ForwardError {
            ForwardError("architecture \(model.spec.name): layer \(index + 1) (\(layer.typeName)): \(message)")
        }
        switch layer {
        case .conv(let c):
            guard case .map(let ci, let h, let w) = from, case .map(let co, let oh, let ow) = to else { throw fail("needs a feature map") }
            let weight = try model.tensor("\(c.name).weight")
            let bias = c.bias ? FloatArray(try model.tensor("\(c.name).bias")) : nil
            if WinogradConvolutionOp.applies(kernel: c.kernel, stride: c.stride, inPerGroup: ci / c.groups, outPerGroup: co / c.groups) {
                return .winograd(
                    WinogradConvolutionOp(
                        inChannels: ci, height: h, width: w, outChannels: co, outHeight: oh, outWidth: ow,
                        padTop: c.padding[0], padLeft: c.padding[1], groups: c.groups,
                        weight: FloatArray(weight), bias: bias))
            }
            return .conv(
                ConvolutionOp(
                    inChannels: ci, height: h, width: w, outChannels: co, outHeight: oh, outWidth: ow,
                    kernelH: c.kernel[0], kernelW: c.kernel[1], strideH: c.stride[0], strideW: c.stride[1],
                    padTop: c.padding[0], padLeft: c.padding[1], groups: c.groups,
                    weight: FloatArray(weight), bias: bias))
        case .relu:
            return .relu(perItem: to.count)
        case .lrn(let l):
            guard case .map(let c, let h, let w) = from else { throw fail("needs a feature map") }
            return .lrn(LRNOp(channels: c, plane: h * w, size: l.size, alpha: Float(l.alpha), beta: Float(l.beta), k: Float(l.k)))
        case .batchNorm(let b):
            let channels: Int
            let plane: Int
            switch from {
            case .map(let c, let h, let w):
                channels = c
                plane = h * w
            case .vector(let f):
                channels = f
                plane = 0
            }
            let parts = try ["weight", "bias", "running_mean", "running_var"].map { try model.tensor("\(b.name).\($0)").floats() }
            return .batchNorm(
                BatchNormOp(
                    channels: channels, plane: plane, gamma: parts[0], beta: parts[1],
                    mean: parts[2], variance: parts[3], epsilon: b.epsilon))
        case .maxPool(let p), .avgPool(let p):
            guard case .map(let c, let h, let w) = from, case .map(_, let oh, let ow) = to else { throw fail("needs a feature map") }
            let kind: PoolOp.Kind
            if case .maxPool = layer { kind = .max } else { kind = .average(countIncludePad: p.countIncludePad) }
            return .pool(
                PoolOp(
                    kind: kind, channels: c, height: h, width: w, outHeight: oh, outWidth: ow,
                    kernelH: p.kernel[0], kernelW: p.kernel[1], strideH: p.stride[0], strideW: p.stride[1],
                    padding: p.padding))
        case .adaptiveAvgPool:
            guard case .map(let c, let h, let w) = from, case .map(_, let oh, let ow) = to else { throw fail("needs a feature map") }
            guard oh > 0, ow > 0 else { throw fail("output size must be positive") }
            return .pool(
                PoolOp(
                    kind: .adaptiveAverage, channels: c, height: h, width: w, outHeight: oh, outWidth: ow,
                    kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padding: [0, 0, 0, 0]))
        case .flatten:
            switch from {
            case .map(let c, let h, let w): return .flatten(channels: c, plane: h * w)
            case .vector: return .identity
            }
        case .dense(let d):
            guard case .vector(let inFeatures) = from else { throw fail("needs a vector: add a flatten layer before it") }
            let weight = try model.tensor("\(d.name).weight")
            let bias = d.bias ? FloatArray(try model.tensor("\(d.name).bias")) : nil
            return .dense(DenseOp(inFeatures: inFeatures, outFeatures: d.outFeatures, weight: FloatArray(weight), bias: bias))
        case .dropout:
            return .identity
        case .softmax:
            guard case .vector(let width) = from else { throw fail("softmax needs a vector (flatten first)") }
            return .softmax(width: width)
        }
    }
}
