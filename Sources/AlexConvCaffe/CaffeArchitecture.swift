import AlexConvCore
import Foundation

/// What the importer makes of a Caffe net: the layer chain, the input size, the data layer's
/// transformation, the weights in canonical layout under Caffe names (`<layer>.weight`, ...), and
/// the same tensors under canonical names for checking them against the spec.
struct CaffeChain {
    var layers: [LayerSpec]
    var input: (channels: Int, height: Int, width: Int)
    /// The `transform_param` of the data (or Input) layer: scale, mean_value, mean_file, crop_size.
    var transform: Caffe_TransformationParameter?
    var tensors: [NamedTensor]
    var canonicalTensors: [NamedTensor]
    var hints: [LayerHint]
    var notes: [String]
    /// Caffe layer name -> canonical layer name (conv1, bn1, fc6, ...).
    var layerNames: [(caffe: String, canonical: String)]
}

/// Walks a Caffe net's layers in order (the TEST-phase net, as Caffe builds it for inference) along
/// the chain of blobs that starts at the input, turning each layer into a `LayerSpec` and checking
/// each blob against the shape the layer needs. Every size goes through the spec's shape inference.
struct CaffeChainBuilder {
    /// Layer types that feed the net (their top is the input).
    static let inputTypes: Set<String> = ["Input", "Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"]
    /// Layer types the importer turns into layers (shown in the unsupported-type error).
    static let convertedTypes = ["Convolution", "ReLU", "LRN", "Pooling", "InnerProduct", "Dropout", "Softmax", "Flatten", "BatchNorm", "Scale"]
    /// Types with weights (matched by name between a prototxt and a caffemodel).
    static let weightedTypes: Set<String> = ["Convolution", "InnerProduct", "BatchNorm", "Scale"]

    /// True for layers that only matter in training (accuracy, losses, Silence): skipped with a note.
    static func isTrainingOnly(_ type: String) -> Bool {
        type == "Accuracy" || type == "Silence" || type.hasSuffix("Loss")
    }

    let net: CaffeNet
    /// Blobs by layer name when the structure comes from a prototxt and the weights from a caffemodel.
    let weights: [String: [CaffeBlob]]?

    private var current: String?
    private var shape: ActivationShape?
    /// The input shape, once known.
    private var firstShape: ActivationShape?
    private var transform: Caffe_TransformationParameter?
    private var layers: [LayerSpec] = []
    private var tensors: [NamedTensor] = []
    private var canonical: [NamedTensor] = []
    private var hints: [LayerHint] = []
    private var notes: [String] = []
    private var layerNames: [(String, String)] = []
    private var convCount = 0, denseCount = 0
    private var usedNames = Set<String>()
    private var pendingNorm: PendingNorm?
    private var included: [CaffeLayer] = []

    /// A BatchNorm layer read, waiting for the Scale layer that usually follows it.
    private struct PendingNorm {
        var layer: CaffeLayer
        var mean: Tensor
        var variance: Tensor
        var epsilon: Double
        var channels: Int
        var top: String
    }

    /// The caffemodel the blobs come from (errors about blobs name it).
    let weightsFile: String
    /// True when the prototxt was found beside the model rather than given (said in name errors).
    let prototxtFound: Bool

    init(net: CaffeNet, weights: [String: [CaffeBlob]]?, weightsFile: String, prototxtFound: Bool = false) {
        self.net = net
        self.weights = weights
        self.weightsFile = weightsFile
        self.prototxtFound = prototxtFound
    }

    // MARK: - Entry point

    mutating func run() throws -> CaffeChain {
        for layer in net.layers {
            if try layer.includedAtTest() {
                included.append(layer)
            } else {
                notes.append("\(layer.label) skipped: \(layer.ruleWords) (alexconv builds the TEST-phase net, as Caffe does for inference)")
            }
        }
        try checkNames()
        if let first = net.inputs.first {
            guard net.inputs.count == 1 else {
                throw FormatError(.unsupported, "the net declares \(net.inputs.count) inputs (\(net.inputs.map { oneLine($0.name) }.joined(separator: ", "))); alexconv converts single-input nets")
            }
            current = first.name
            if let dims = first.dims { try setInput(dims, what: "input '\(oneLine(first.name))'") }
        }
        for layer in included {
            let type = layer.type
            if Self.inputTypes.contains(type) {
                try input(layer)
            } else if Self.isTrainingOnly(type) {
                notes.append("\(layer.label) skipped: it only matters in training")
            } else {
                try chainLayer(layer)
            }
        }
        try flushNorm(scale: nil)
        guard current != nil else {
            throw FormatError(.malformed, "the net declares no input (input with input_shape/input_dim, an Input layer or a data layer)")
        }
        guard !layers.isEmpty else { throw FormatError(.malformed, "the net has no layers between its input and its output") }
        guard case .map(let c, let h, let w)? = firstShape else {
            throw FormatError(.malformed, "the net's input is not an image batch")
        }
        describeOrder()
        return CaffeChain(
            layers: layers, input: (c, h, w), transform: transform, tensors: tensors,
            canonicalTensors: canonical, hints: hints, notes: notes, layerNames: layerNames)
    }

    // MARK: - Names

    /// Weighted layers need unique names (Caffe copies weights by name); with a prototxt, every
    /// weighted layer needs its weights in the caffemodel and every weighted caffemodel layer a place.
    private func checkNames() throws {
        var seen = Set<String>()
        for layer in included where Self.weightedTypes.contains(layer.type) {
            guard seen.insert(layer.name).inserted else {
                throw FormatError(.corrupted, location: layer.label, "another layer with weights has the same name; Caffe matches weights by layer name")
            }
        }
        guard let weights else { return }
        let missing = included.filter { Self.weightedTypes.contains($0.type) && weights[$0.name] == nil }.map { "'\(oneLine($0.name))'" }
        let unused = weights.keys.filter { !seen.contains($0) }.sorted().map { "'\(oneLine($0))'" }
        if !missing.isEmpty || !unused.isEmpty {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("the prototxt's layers \(missing.joined(separator: ", ")) have no weights in the caffemodel") }
            if !unused.isEmpty { parts.append("the caffemodel's layers \(unused.joined(separator: ", ")) hold weights but are not in the prototxt's TEST-phase net") }
            let found = prototxtFound ? "; the prototxt was found beside the model: give the one that belongs to it" : ""
            throw ModelError(parts.joined(separator: "; ") + " (weights are matched by layer name)\(found)")
        }
    }

    /// The canonical layer name `base`, made unique with a suffix.
    private mutating func unique(_ base: String) -> String {
        var name = base
        var n = 2
        while usedNames.contains(name) {
            name = "\(base)_\(n)"
            n += 1
        }
        usedNames.insert(name)
        return name
    }

    // MARK: - Input

    private mutating func setInput(_ dims: [Int], what: String) throws {
        guard dims.count == 4 else {
            throw FormatError(.malformed, location: what, "has shape \(dims); expected (num, channels, height, width)")
        }
        shape = .map(channels: dims[1], height: dims[2], width: dims[3])
        firstShape = shape
        _ = try Self.nextShape(after: shape!, .relu, label: what)  // checks the sizes
    }

    private mutating func input(_ layer: CaffeLayer) throws {
        if let current {
            throw FormatError(.unsupported, location: layer.label, "is a second input (the net already starts at '\(oneLine(current))'); alexconv converts single-input nets")
        }
        guard let top = layer.tops.first else { throw FormatError(.malformed, location: layer.label, "has no top blob") }
        current = top
        transform = layer.transform
        switch layer.type {
        case "Input":
            let shapes = layer.current?.inputParam.shape ?? []
            guard let first = shapes.first else { throw FormatError(.malformed, location: layer.label, "states no shape (input_param.shape)") }
            try setInput(try first.dim.map { try CaffeNet.dimension($0, what: layer.label) }, what: layer.label)
            return
        case "MemoryData":
            let p = layer.memoryData
            try setInput([Int(p.batchSize), Int(p.channels), Int(p.height), Int(p.width)], what: layer.label)
        case "DummyData":
            let p = layer.dummyData
            if let first = p.shape.first {
                try setInput(try first.dim.map { try CaffeNet.dimension($0, what: layer.label) }, what: layer.label)
            } else if !p.channels.isEmpty, !p.height.isEmpty, !p.width.isEmpty {
                try setInput([1, Int(p.channels[0]), Int(p.height[0]), Int(p.width[0])], what: layer.label)
            }
        default:
            // Database readers: the input is crop_size x crop_size; the channels come from conv1's weights.
            if let crop = transform?.cropSize, crop > 0 {
                guard let channels = try firstConvolutionChannels() else {
                    throw FormatError(.malformed, location: layer.label, "crops \(crop)x\(crop) but no convolution with weights follows to tell the input channels")
                }
                try setInput([1, channels, Int(crop), Int(crop)], what: layer.label)
            }
        }
        let size = shape.map { " (input \($0) from its parameters)" } ?? ""
        notes.append("\(layer.label) skipped: it reads training or validation data; the net's input is its top '\(oneLine(top))'\(size)")
    }

    /// Input channels of the first convolution with weights: (in/groups) x groups.
    private func firstConvolutionChannels() throws -> Int? {
        guard let conv = included.first(where: { $0.type == "Convolution" }),
            let blob = blobs(of: conv).first
        else { return nil }
        let dims = try blob.dims(what: "\(conv.label) blob 0")
        guard dims.count == 4 else { return nil }
        let (channels, overflow) = dims[1].multipliedReportingOverflow(by: max(Int(conv.convolution.group), 1))
        return overflow ? nil : channels
    }

    // MARK: - Layers of the chain

    private mutating func chainLayer(_ layer: CaffeLayer) throws {
        guard let current else {
            throw FormatError(.malformed, location: layer.label, "comes before any input: the net declares no input (input with input_shape/input_dim, an Input layer or a data layer)")
        }
        guard layer.bottoms == [current] else {
            throw FormatError(
                .unsupported, location: layer.label,
                "reads \(layer.bottoms.isEmpty ? "no blob" : "blobs \(layer.bottoms.map { "'\(oneLine($0))'" }.joined(separator: ", "))"), but the chain of layers is at '\(oneLine(current))'; alexconv converts nets that are one chain of layers"
            )
        }
        guard layer.tops.count == 1 else {
            throw FormatError(.unsupported, location: layer.label, "writes \(layer.tops.count) blobs; alexconv converts layers with one output")
        }
        guard shape != nil else {
            throw FormatError(
                .malformed, location: layer.label,
                "the net's input '\(oneLine(current))' has no stated size (input_shape, input_dim, an Input layer or a data layer's crop_size); give the deploy prototxt that states it")
        }
        if layer.type != "Scale" { try flushNorm(scale: nil) }
        switch layer.type {
        case "Convolution": try convolution(layer)
        case "ReLU":
            guard layer.relu.negativeSlope == 0 else {
                throw FormatError(.unsupported, location: layer.label, "has negative_slope \(layer.relu.negativeSlope) (a leaky ReLU); alexconv's ReLU has slope 0")
            }
            try advance(.relu, layer)
        case "LRN": try lrn(layer)
        case "Pooling": try pooling(layer)
        case "InnerProduct": try innerProduct(layer)
        case "Dropout": try advance(.dropout(Self.decimal(layer.dropout.dropoutRatio)), layer)
        case "Softmax":
            let p = layer.softmax
            guard !p.hasAxis || p.axis == 1 else {
                throw FormatError(.unsupported, location: layer.label, "normalises over axis \(p.axis); alexconv's softmax runs over the channels (axis 1)")
            }
            try advance(.softmax, layer)
        case "Flatten":
            let p = layer.current?.flattenParam ?? Caffe_FlattenParameter()
            guard p.axis == 1, p.endAxis == -1 else {
                throw FormatError(.unsupported, location: layer.label, "flattens axes \(p.axis)...\(p.endAxis); alexconv flattens (C, H, W) (axis 1 to -1)")
            }
            if case .map? = shape { try advance(.flatten, layer) }
        case "BatchNorm": try batchNorm(layer)
        case "Scale":
            guard pendingNorm != nil else {
                throw FormatError(.unsupported, location: layer.label, "is a Scale layer that does not follow a BatchNorm layer; alexconv reads Scale only as BatchNorm's gamma and beta")
            }
            try flushNorm(scale: layer)
        default:
            throw FormatError(
                .unsupported, location: layer.label,
                "type '\(oneLine(layer.type))' is not one alexconv converts (it converts \(Self.convertedTypes.joined(separator: ", ")) and skips data, accuracy and loss layers)")
        }
        self.current = layer.tops[0]
    }

    /// Appends `spec`, moving the activation shape through the spec's own shape inference.
    private mutating func advance(_ spec: LayerSpec, _ layer: CaffeLayer) throws {
        shape = try Self.nextShape(after: shape!, spec, label: layer.label)
        layers.append(spec)
    }

    /// The shape after `layer` given `shape`: the spec's shape inference on a one-layer spec.
    static func nextShape(after shape: ActivationShape, _ layer: LayerSpec, label: String) throws -> ActivationShape {
        let input: InputSpec
        var chain: [LayerSpec] = [layer]
        switch shape {
        case .map(let c, let h, let w):
            input = InputSpec(height: h, width: w, channels: c, channelOrder: .bgr, scale: 1, mean: [], std: [])
        case .vector(let n):
            input = InputSpec(height: 1, width: 1, channels: n, channelOrder: .bgr, scale: 1, mean: [], std: [])
            chain.insert(.flatten, at: 0)
        }
        do {
            guard let next = try ArchitectureSpec(name: "caffe", input: input, layers: chain).activationShapes().last else {
                throw FormatError(.malformed, location: label, "has no output shape")
            }
            return next
        } catch let error as ModelError {
            // "architecture caffe: layer 1 (conv): <what>" -> "<what>"
            var detail = error.detail
            if let range = detail.range(of: #"^architecture caffe: (layer \d+ \([a-z]+\): )?"#, options: .regularExpression) {
                detail.removeSubrange(range)
            }
            throw FormatError(.malformed, location: label, detail)
        }
    }

    // MARK: - Blobs

    private func blobs(of layer: CaffeLayer) -> [CaffeBlob] {
        if let weights { return weights[layer.name] ?? [] }
        return layer.blobs
    }

    /// The layer's blobs, which must be `count` (roles named for the message).
    private func blobs(of layer: CaffeLayer, count: ClosedRange<Int>, roles: String) throws -> [CaffeBlob] {
        let found = blobs(of: layer)
        guard count.contains(found.count) else {
            throw FormatError(
                .corrupted, file: weightsFile, location: layer.label,
                "has \(found.count) blobs; it needs \(count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "\(count.lowerBound)-\(count.upperBound)") (\(roles))")
        }
        return found
    }

    /// Blob `index` as a tensor of shape `expected`: its own dims, or legacy 4-d dims padded with
    /// leading ones (V1 fc weights (1, 1, out, in), biases (1, 1, 1, out)).
    private func blobTensor(_ blobs: [CaffeBlob], _ index: Int, expected: [Int], role: String, layer: CaffeLayer) throws -> Tensor {
        let what = "\(layer.label) blob \(index) (\(role))"
        let tensor = try withFileContext(weightsFile) { try blobs[index].tensor(what: what) }
        let dims = tensor.shape
        if dims == expected { return tensor }
        if dims.count > expected.count, dims.dropLast(expected.count).allSatisfy({ $0 == 1 }),
            Array(dims.suffix(expected.count)) == expected
        {
            return tensor.reshaped(expected)
        }
        throw FormatError(.corrupted, file: weightsFile, location: what, "has shape \(dims); the layer's parameters need \(expected)")
    }

    private mutating func record(
        _ layer: CaffeLayer, kind: LayerHint.Kind, canonicalLayer: String,
        _ parts: [(suffix: String, canonicalSuffix: String, tensor: Tensor)]
    ) {
        let base = layer.name.isEmpty ? "#\(layer.index)" : layer.name
        var names: [String] = []
        for part in parts {
            let name = "\(base).\(part.suffix)"
            tensors.append(NamedTensor(name, part.tensor))
            canonical.append(NamedTensor("\(canonicalLayer).\(part.canonicalSuffix)", part.tensor))
            names.append(name)
        }
        hints.append(LayerHint(name: base, kind: kind, tensorNames: names))
        layerNames.append((base, canonicalLayer))
    }

    // MARK: - Convolution

    /// A 2-d size from Caffe's repeated form (`kernel_size: 3` or two values) or its `_h`/`_w` pair.
    static func pair(_ repeated: [UInt32], h: UInt32?, w: UInt32?, default value: Int?, name: String, label: String) throws -> [Int] {
        if h != nil || w != nil {
            guard let h, let w, repeated.isEmpty else {
                throw FormatError(.malformed, location: label, "\(name)_h and \(name)_w go together, without \(name)")
            }
            return [Int(h), Int(w)]
        }
        switch repeated.count {
        case 0:
            guard let value else { throw FormatError(.malformed, location: label, "states no \(name) (\(name)_size or \(name)_h and \(name)_w)") }
            return [value, value]
        case 1: return [Int(repeated[0]), Int(repeated[0])]
        case 2: return [Int(repeated[0]), Int(repeated[1])]
        default:
            throw FormatError(.unsupported, location: label, "has \(repeated.count) \(name) values (a \(repeated.count)-d convolution); alexconv converts 2-d convolutions")
        }
    }

    private mutating func convolution(_ layer: CaffeLayer) throws {
        let p = layer.convolution
        let label = layer.label
        guard p.numOutput > 0 else { throw FormatError(.malformed, location: label, "has num_output \(p.numOutput); expected a positive number of filters") }
        let kernel = try Self.pair(
            p.kernelSize, h: p.hasKernelH ? p.kernelH : nil, w: p.hasKernelW ? p.kernelW : nil,
            default: nil, name: "kernel", label: label)
        let stride = try Self.pair(
            p.stride, h: p.hasStrideH ? p.strideH : nil, w: p.hasStrideW ? p.strideW : nil,
            default: 1, name: "stride", label: label)
        let pad = try Self.pair(
            p.pad, h: p.hasPadH ? p.padH : nil, w: p.hasPadW ? p.padW : nil,
            default: 0, name: "pad", label: label)
        guard p.dilation.allSatisfy({ $0 == 1 }) else {
            throw FormatError(.unsupported, location: label, "has dilation \(p.dilation); alexconv converts undilated convolutions")
        }
        guard p.axis == 1 else { throw FormatError(.unsupported, location: label, "convolves from axis \(p.axis); expected 1 (channels)") }
        guard p.group >= 1 else { throw FormatError(.malformed, location: label, "has group 0; expected at least 1") }
        guard case .map(let channels, _, _)? = shape else {
            throw FormatError(.malformed, location: label, "needs a feature map, but the chain is a vector here")
        }
        let name = unique("conv\(convCount + 1)")
        let spec = ConvSpec(
            name: name, outChannels: Int(p.numOutput), kernel: kernel, stride: stride,
            padding: [pad[0], pad[1], pad[0], pad[1]], groups: Int(p.group), bias: p.biasTerm)
        try advance(.conv(spec), layer)
        convCount += 1
        let found = try blobs(of: layer, count: p.biasTerm ? 2...2 : 1...1, roles: p.biasTerm ? "weights, bias" : "weights; bias_term is false")
        let weight = try blobTensor(found, 0, expected: [spec.outChannels, channels / spec.groups, kernel[0], kernel[1]], role: "weights", layer: layer)
        var parts = [("weight", "weight", weight)]
        if p.biasTerm { parts.append(("bias", "bias", try blobTensor(found, 1, expected: [spec.outChannels], role: "bias", layer: layer))) }
        record(layer, kind: .conv, canonicalLayer: name, parts)
    }

    // MARK: - Inner product

    private mutating func innerProduct(_ layer: CaffeLayer) throws {
        let p = layer.innerProduct
        let label = layer.label
        guard p.numOutput > 0 else { throw FormatError(.malformed, location: label, "has num_output \(p.numOutput); expected a positive number of outputs") }
        guard p.axis == 1 else {
            throw FormatError(.unsupported, location: label, "flattens from axis \(p.axis); alexconv's dense layers take (C, H, W) flattened from axis 1")
        }
        if case .map? = shape { try advance(.flatten, layer) }
        guard case .vector(let inputs)? = shape else { throw FormatError(.malformed, location: label, "has no vector input") }
        let name = unique("fc\(convCount + denseCount + 1)")
        try advance(.dense(DenseSpec(name: name, outFeatures: Int(p.numOutput), bias: p.biasTerm)), layer)
        denseCount += 1
        let out = Int(p.numOutput)
        let found = try blobs(of: layer, count: p.biasTerm ? 2...2 : 1...1, roles: p.biasTerm ? "weights, bias" : "weights; bias_term is false")
        var weight = try blobTensor(found, 0, expected: p.transpose ? [inputs, out] : [out, inputs], role: "weights", layer: layer)
        if p.transpose { weight = weight.transposed([1, 0]) }
        var parts = [("weight", "weight", weight)]
        if p.biasTerm { parts.append(("bias", "bias", try blobTensor(found, 1, expected: [out], role: "bias", layer: layer))) }
        record(layer, kind: .dense, canonicalLayer: name, parts)
    }

    // MARK: - LRN and pooling

    private mutating func lrn(_ layer: CaffeLayer) throws {
        let p = layer.lrn
        guard p.normRegion == .acrossChannels else {
            throw FormatError(.unsupported, location: layer.label, "normalises WITHIN_CHANNEL (over a spatial window); alexconv's LRN runs across channels")
        }
        guard p.localSize % 2 == 1 else {
            throw FormatError(.malformed, location: layer.label, "has local_size \(p.localSize); Caffe's LRN takes odd sizes only")
        }
        try advance(.lrn(LRNSpec(size: Int(p.localSize), alpha: Self.decimal(p.alpha), beta: Self.decimal(p.beta), k: Self.decimal(p.k))), layer)
    }

    /// Caffe's pooled size (`PoolingLayer::Reshape`): rounded up (or down with round_mode FLOOR), then
    /// one less when the last window would start in the padding.
    static func caffePooledSize(_ size: Int, pad: Int, kernel: Int, stride: Int, ceil: Bool) -> Int {
        let span = size + 2 * pad - kernel
        var out = (ceil ? Int((Double(span) / Double(stride)).rounded(.up)) : Int((Double(span) / Double(stride)).rounded(.down))) + 1
        if pad > 0 && (out - 1) * stride >= size + pad { out -= 1 }
        return out
    }

    private mutating func pooling(_ layer: CaffeLayer) throws {
        let p = layer.pooling
        let label = layer.label
        guard case .map(_, let h, let w)? = shape else {
            throw FormatError(.malformed, location: label, "needs a feature map, but the chain is a vector here")
        }
        let kernel: [Int]
        let pad: [Int]
        let stride: [Int]
        if p.globalPooling {
            guard !p.hasKernelSize, !p.hasKernelH, !p.hasKernelW else {
                throw FormatError(.malformed, location: label, "has global_pooling and a kernel size; Caffe takes one or the other")
            }
            kernel = [h, w]
            pad = [0, 0]
            stride = [1, 1]
        } else {
            if p.hasKernelSize {
                guard !p.hasKernelH, !p.hasKernelW else { throw FormatError(.malformed, location: label, "has kernel_size and kernel_h/kernel_w; Caffe takes one or the other") }
                kernel = [Int(p.kernelSize), Int(p.kernelSize)]
            } else if p.hasKernelH, p.hasKernelW {
                kernel = [Int(p.kernelH), Int(p.kernelW)]
            } else {
                throw FormatError(.malformed, location: label, "states no kernel (kernel_size, or kernel_h and kernel_w)")
            }
            pad = p.hasPadH || p.hasPadW ? [Int(p.padH), Int(p.padW)] : [Int(p.pad), Int(p.pad)]
            stride = p.hasStrideH || p.hasStrideW ? [Int(p.strideH), Int(p.strideW)] : [Int(p.stride), Int(p.stride)]
        }
        guard kernel.allSatisfy({ $0 > 0 }), stride.allSatisfy({ $0 > 0 }) else {
            throw FormatError(.malformed, location: label, "has kernel \(kernel) and stride \(stride); both must be positive")
        }
        guard pad[0] < kernel[0], pad[1] < kernel[1] else {
            throw FormatError(.malformed, location: label, "has padding \(pad) not smaller than the kernel \(kernel), which Caffe refuses")
        }
        // Caffe rounds up unless round_mode is FLOOR; the spec says ceil only where it changes the size
        // at this input (so the spec is the simplest that computes the same, and matches the presets).
        let caffeCeil = !(p.hasRoundMode && p.roundMode == .floor)
        let ceil =
            caffeCeil
            && (0..<2).contains { axis in
                let size = axis == 0 ? h : w
                return Self.caffePooledSize(size, pad: pad[axis], kernel: kernel[axis], stride: stride[axis], ceil: true)
                    != Self.caffePooledSize(size, pad: pad[axis], kernel: kernel[axis], stride: stride[axis], ceil: false)
            }
        let pool = PoolSpec(kernel: kernel, stride: stride, padding: [pad[0], pad[1], pad[0], pad[1]], ceilMode: ceil, countIncludePad: true)
        let spec: LayerSpec
        switch p.pool {
        case .max: spec = .maxPool(pool)
        case .ave: spec = .avgPool(pool)
        case .stochastic:
            throw FormatError(.unsupported, location: label, "is STOCHASTIC pooling, which alexconv does not convert (use MAX or AVE)")
        }
        try advance(spec, layer)
        let caffe = (
            Self.caffePooledSize(h, pad: pad[0], kernel: kernel[0], stride: stride[0], ceil: caffeCeil),
            Self.caffePooledSize(w, pad: pad[1], kernel: kernel[1], stride: stride[1], ceil: caffeCeil)
        )
        guard case .map(_, let oh, let ow)? = shape, (oh, ow) == caffe else {
            throw FormatError(
                .unsupported, location: label,
                "Caffe pools the \(h)x\(w) map to \(caffe.0)x\(caffe.1), with a last window that starts outside the input; alexconv's pooling cannot express that")
        }
    }

    // MARK: - Batch normalisation

    private mutating func batchNorm(_ layer: CaffeLayer) throws {
        let p = layer.current?.batchNormParam ?? Caffe_BatchNormParameter()
        if p.hasUseGlobalStats && !p.useGlobalStats {
            throw FormatError(.unsupported, location: layer.label, "has use_global_stats: false (normalising by each batch's own statistics); alexconv applies the stored mean and variance")
        }
        let channels: Int
        switch shape! {
        case .map(let c, _, _): channels = c
        case .vector(let n): channels = n
        }
        let found = try blobs(of: layer, count: 3...3, roles: "mean, variance, moving-average factor")
        var mean = try blobTensor(found, 0, expected: [channels], role: "mean", layer: layer)
        var variance = try blobTensor(found, 1, expected: [channels], role: "variance", layer: layer)
        let factor = try blobTensor(found, 2, expected: [1], role: "moving-average factor", layer: layer).floats()[0]
        if factor != 1 {
            // BatchNormLayer::Forward_cpu: statistics divided by the factor, in float.
            let scale: Float = factor == 0 ? 0 : 1 / factor
            mean = Tensor(mean.floats().map { $0 * scale }, shape: [channels])
            variance = Tensor(variance.floats().map { $0 * scale }, shape: [channels])
            notes.append("\(layer.label): mean and variance divided by the stored moving-average factor \(factor), as Caffe does")
        }
        guard let top = layer.tops.first else { throw FormatError(.malformed, location: layer.label, "has no top blob") }
        pendingNorm = PendingNorm(layer: layer, mean: mean, variance: variance, epsilon: Self.decimal(p.eps), channels: channels, top: top)
    }

    /// Appends the pending BatchNorm, with gamma and beta from `scale` (or 1 and 0 without one).
    private mutating func flushNorm(scale: CaffeLayer?) throws {
        guard let norm = pendingNorm else { return }
        pendingNorm = nil
        let c = norm.channels
        var gamma = Tensor([Float](repeating: 1, count: c), shape: [c])
        var beta = Tensor([Float](repeating: 0, count: c), shape: [c])
        if let scale {
            let p = scale.current?.scaleParam ?? Caffe_ScaleParameter()
            guard p.axis == 1, p.numAxes == 1 else {
                throw FormatError(.unsupported, location: scale.label, "scales axes from \(p.axis) (\(p.numAxes) axes); alexconv reads a Scale over the channels (axis 1, num_axes 1)")
            }
            let found = try blobs(of: scale, count: p.biasTerm ? 2...2 : 1...1, roles: p.biasTerm ? "gamma, beta" : "gamma; bias_term is false")
            gamma = try blobTensor(found, 0, expected: [c], role: "gamma", layer: scale)
            if p.biasTerm { beta = try blobTensor(found, 1, expected: [c], role: "beta", layer: scale) }
        } else {
            notes.append("\(norm.layer.label) has no Scale layer after it: gamma 1 and beta 0")
        }
        let name = unique("bn\(convCount + denseCount)")
        try advance(.batchNorm(BatchNormSpec(name: name, epsilon: norm.epsilon)), norm.layer)
        let normBase = norm.layer.name.isEmpty ? "#\(norm.layer.index)" : norm.layer.name
        let scaleBase = scale.map { $0.name.isEmpty ? "#\($0.index)" : $0.name } ?? normBase
        let parts: [(String, String, Tensor)] = [
            ("\(scaleBase).weight", "weight", gamma), ("\(scaleBase).bias", "bias", beta),
            ("\(normBase).running_mean", "running_mean", norm.mean), ("\(normBase).running_var", "running_var", norm.variance),
        ]
        var names: [String] = []
        for (fileName, suffix, tensor) in parts {
            tensors.append(NamedTensor(fileName, tensor))
            canonical.append(NamedTensor("\(name).\(suffix)", tensor))
            names.append(fileName)
        }
        hints.append(LayerHint(name: normBase, kind: .batchNorm, tensorNames: names))
        layerNames.append((normBase, name))
    }

    // MARK: - Notes

    /// Says whether LRN comes before or after the pooling in the first blocks (AlexNet vs CaffeNet).
    private mutating func describeOrder() {
        var order: [String] = []
        scan: for layer in layers {
            switch layer {
            case .lrn: order.append("LRN")
            case .maxPool, .avgPool: order.append("pool")
            case .dense: break scan
            default: continue
            }
        }
        guard let firstLRN = order.firstIndex(of: "LRN") else { return }
        if firstLRN == 0 || order[firstLRN - 1] != "pool" {
            notes.append("layer order from the file: LRN before pooling (the order of BVLC AlexNet, bvlc_alexnet)")
        } else {
            notes.append("layer order from the file: pooling before LRN (the order of BVLC CaffeNet, bvlc_reference_caffenet)")
        }
    }

    /// A float parameter as the shortest decimal that reads back as it (1e-4, not 9.99999974737875e-05).
    static func decimal(_ value: Float) -> Double {
        Double("\(value)") ?? Double(value)
    }
}
