import AlexConvCore
import Foundation

/// What the importer makes of an ONNX graph: the layer chain as a spec, and the weights under
/// canonical names (conv1..convN, bnK, fc(N+1)...) in canonical layout.
struct ONNXGraphImport {
    var spec: ArchitectureSpec
    var tensors: [NamedTensor]
    var hints: [LayerHint]
    var notes: [String]
}

/// Walks a graph's nodes (topologically sorted, as ONNX requires) along the chain that starts at
/// the data input, turning each operator into a `LayerSpec`. Side computations that only feed a
/// Reshape's shape input (Shape, Gather, Concat, ...) are allowed; anything else that reads the
/// chain must be one of the operators below, or the import fails naming the node and its op type.
struct ONNXGraphImporter {
    /// Operators the importer maps to layers (shown in the unsupported-operator error).
    static let supportedOperators = [
        "Conv", "Relu", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "BatchNormalization", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Dropout", "Softmax", "Identity",
        "Mul/Conv/Pow/Div (LRN with an even size, as alexconv exports it)",
    ]

    /// Start of the note that says the input conventions were guessed.
    static let guessedPreprocessingNote = "preprocessing not recorded in the file"

    let model: Onnx_ModelProto
    let opset: Int
    private var constants: [String: Onnx_TensorProto] = [:]
    private var shapeValues = Set<String>()
    private var chainValues = Set<String>()
    private var current: String = ""
    private var shape: ActivationShape = .vector(0)
    private var layers: [LayerSpec] = []
    private var tensors: [NamedTensor] = []
    private var hints: [LayerHint] = []
    private var notes: [String] = []
    private var convCount = 0, bnCount = 0, denseCount = 0
    /// Index in `layers` of a dense layer made from MatMul that may still take its bias from an Add.
    private var matMulDense: Int?
    /// A multi-node pattern alexconv's exporter writes, half seen.
    private var pending: PendingPattern?

    /// Node sequences that together form one layer.
    private enum PendingPattern {
        /// Mul(x, x): the squares of an even-size LRN's input `x` (onnxruntime's LRN takes odd sizes only).
        case lrnSquares(input: String, channels: Int)
        /// Conv of the squares with a banded (C, C, 1, 1) weight alpha/size and bias k.
        case lrnSums(input: String, lrn: LRNSpec)
        /// Pow(sums, beta), before Div(x, _).
        case lrnDenominator(input: String, lrn: LRNSpec)
        /// MatMul by the width averaging matrix, before the height one (adaptive average pooling).
        case adaptiveWidth(output: Int)

        var description: String {
            switch self {
            case .lrnSquares, .lrnSums, .lrnDenominator: return "local response normalisation (Mul, Conv, Pow, Div)"
            case .adaptiveWidth: return "adaptive average pooling (MatMul by width then height matrices)"
            }
        }
    }

    init(model: Onnx_ModelProto) throws {
        self.model = model
        guard let opset = ONNXProtobuf.defaultOpset(model) else {
            throw FormatError(.truncated, "ONNX model imports no opset for the default domain (opset_import is empty): file truncated or not an ONNX model")
        }
        self.opset = opset
    }

    // MARK: - Entry point

    mutating func run() throws -> ONNXGraphImport {
        let graph = model.graph
        guard graph.node.count <= ONNXLimits.maxNodes else {
            throw FormatError(.limit, "graph has \(graph.node.count) nodes, more than the limit \(ONNXLimits.maxNodes)")
        }
        guard graph.initializer.count <= ONNXLimits.maxInitializers else {
            throw FormatError(.limit, "graph has \(graph.initializer.count) initializers, more than the limit \(ONNXLimits.maxInitializers)")
        }
        if let sparse = graph.sparseInitializer.first {
            throw FormatError(.unsupported, location: "initializer '\(sparse.values.name)'", "is a sparse tensor, which alexconv does not read")
        }
        for initializer in graph.initializer {
            guard constants[initializer.name] == nil else {
                throw FormatError(.corrupted, location: "initializer '\(initializer.name)'", "appears twice in the graph")
            }
            constants[initializer.name] = initializer
        }

        let input = try dataInput()
        current = input.name
        chainValues.insert(current)
        shape = .map(channels: input.channels, height: input.height, width: input.width)

        for node in graph.node { try visit(node) }
        if let pending {
            throw FormatError(.truncated, "the graph ends inside a \(pending.description) before it is complete")
        }

        let outputs = graph.output.map(\.name)
        guard outputs.contains(current) else {
            throw FormatError(.malformed, "the layer chain from '\(input.name)' ends at '\(current)', which is not a graph output (outputs: \(outputs.joined(separator: ", ")))")
        }
        if outputs.count > 1 {
            notes.append("graph outputs other than '\(current)' ignored: \(outputs.filter { $0 != current }.joined(separator: ", "))")
        }
        guard !layers.isEmpty else { throw FormatError(.malformed, "graph has no layers between its input and output") }

        let inputSpec = guessedInput(channels: input.channels, height: input.height, width: input.width)
        var spec = ArchitectureSpec(name: "custom", input: inputSpec, layers: layers)
        try spec.validate()
        _ = try TensorMatcher.match(tensors, to: spec)

        if let recorded = try recordedSpec() {
            if (try? recorded.expectedTensors().map { "\($0.name)\($0.shape)" }) == (try spec.expectedTensors().map { "\($0.name)\($0.shape)" }),
                recorded.input.height == spec.input.height, recorded.input.width == spec.input.width,
                recorded.input.channels == spec.input.channels
            {
                spec = recorded
                notes.removeAll { $0.hasPrefix(Self.guessedPreprocessingNote) }
                notes.append("architecture and preprocessing read from metadata_props '\(CanonicalFile.specKey)' (\(recorded.name)); the graph agrees with it")
            } else {
                notes.append("metadata_props '\(CanonicalFile.specKey)' (\(recorded.name)) does not describe this graph's tensors; using the architecture built from the graph")
            }
        }
        return ONNXGraphImport(spec: spec, tensors: tensors, hints: hints, notes: notes)
    }

    // MARK: - Input

    private func dataInput() throws -> (name: String, channels: Int, height: Int, width: Int) {
        let candidates = model.graph.input.filter { constants[$0.name] == nil }
        guard let input = candidates.first else {
            throw FormatError(.malformed, "graph has no input that is not an initializer: nothing to feed the image batch to")
        }
        guard candidates.count == 1 else {
            throw FormatError(.unsupported, "graph has \(candidates.count) data inputs (\(candidates.map(\.name).joined(separator: ", "))); alexconv imports single-input models")
        }
        let location = "input '\(input.name)'"
        guard input.type.tensorType.hasShape else {
            throw FormatError(.malformed, location: location, "has no shape; expected (N, C, H, W) with fixed C, H and W")
        }
        let dims = input.type.tensorType.shape.dim
        guard dims.count == 4 else {
            throw FormatError(.malformed, location: location, "has rank \(dims.count); expected (N, C, H, W)")
        }
        var fixed: [Int] = []
        for (axis, dim) in dims.enumerated().dropFirst() {
            guard case .dimValue(let value)? = dim.value, value > 0, value <= Int64(ONNXLimits.maxExtent) else {
                let found: String
                switch dim.value {
                case .dimParam(let p)?: found = "'\(p)'"
                case .dimValue(let v)?: found = "\(v)"
                case nil: found = "unknown"
                }
                throw FormatError(
                    .malformed, location: location,
                    "dimension \(axis) is \(found); alexconv needs fixed channels, height and width (name an architecture spec with the input size)")
            }
            fixed.append(Int(value))
        }
        return (input.name, fixed[0], fixed[1], fixed[2])
    }

    /// Preprocessing is not part of an ONNX graph: Caffe conventions for Caffe-style graphs (LRN with
    /// grouped convs, as the model zoo's bvlcalexnet), ImageNet RGB normalisation otherwise.
    private mutating func guessedInput(channels: Int, height: Int, width: Int) -> InputSpec {
        let hasLRN = layers.contains { if case .lrn = $0 { return true } else { return false } }
        let grouped = layers.contains { if case .conv(let c) = $0 { return c.groups > 1 } else { return false } }
        if hasLRN && grouped && channels == 3 {
            notes.append("\(Self.guessedPreprocessingNote); assumed Caffe conventions (BGR, 0-255 minus mean 104, 117, 123) because the graph has LRN and grouped convolutions")
            return Presets.caffeInput(height: height, width: width)
        }
        if channels == 3 {
            notes.append("\(Self.guessedPreprocessingNote); assumed ImageNet RGB normalisation (x/255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225)")
            return Presets.imagenetInput(height: height, width: width)
        }
        notes.append("\(Self.guessedPreprocessingNote); assumed none (scale 1, mean 0, std 1)")
        return InputSpec(
            height: height, width: width, channels: channels, channelOrder: .rgb, scale: 1,
            mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels), resize: nil)
    }

    private func recordedSpec() throws -> ArchitectureSpec? {
        guard let text = model.metadataProps.first(where: { $0.key == CanonicalFile.specKey })?.value else { return nil }
        return try ArchitectureSpec.parse(json: text, source: "metadata_props '\(CanonicalFile.specKey)'")
    }

    // MARK: - Nodes

    private mutating func visit(_ node: Onnx_NodeProto) throws {
        let inputs = node.input.filter { !$0.isEmpty }
        let chainInputs = inputs.filter { chainValues.contains($0) }

        if node.opType == "Constant" && (node.domain.isEmpty || node.domain == "ai.onnx") {
            try recordConstant(node)
            return
        }
        if chainInputs.isEmpty {
            // A side computation (shape arithmetic): its outputs may only feed a Reshape's shape.
            for output in node.output where !output.isEmpty { shapeValues.insert(output) }
            return
        }
        let label = nodeLabel(node)
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw FormatError(
                .unsupported, location: label, "unsupported operator '\(node.domain)::\(node.opType)' (custom domain); alexconv imports \(Self.supportedOperators.joined(separator: ", "))")
        }
        if node.opType == "Shape" {
            for output in node.output where !output.isEmpty { shapeValues.insert(output) }
            return
        }
        guard let output = node.output.first, !output.isEmpty else {
            throw FormatError(.malformed, location: label, "has no output")
        }
        let attributes = NodeAttributes(node: node, label: label)
        if let pending {
            try continuePattern(pending, node, inputs, attributes)
            matMulDense = nil
            chainValues.insert(output)
            current = output
            return
        }
        guard chainInputs.allSatisfy({ $0 == current }) else {
            let stale = chainInputs.first { $0 != current } ?? ""
            throw FormatError(
                .unsupported, location: label,
                "reads '\(stale)', which an earlier node already consumed: the graph branches, and alexconv imports a single chain of layers")
        }
        guard node.opType == "Add" || inputs.first == current else {
            throw FormatError(.malformed, location: label, "takes the activations '\(current)' as a parameter input, not as its data input")
        }
        switch node.opType {
        case "Conv": try conv(node, attributes)
        case "Relu": append(.relu)
        case "LRN": try lrn(attributes)
        case "Mul": try lrnSquares(inputs, label)
        case "MaxPool", "AveragePool": try pool(node, attributes)
        case "GlobalAveragePool", "GlobalMaxPool": try globalPool(node, label)
        case "BatchNormalization": try batchNorm(node, attributes)
        case "Flatten": try flatten(attributes, label)
        case "Reshape": try reshape(node, label)
        case "Gemm": try gemm(node, attributes)
        case "MatMul":
            if case .map = shape { try adaptiveWidth(node, label) } else { try matMul(node, label) }
        case "Add": try add(node, label)
        case "Dropout": try dropout(node, attributes)
        case "Softmax": try softmax(attributes, label)
        case "Identity": break
        default:
            throw FormatError(.unsupported, location: label, "unsupported operator '\(node.opType)'; alexconv imports \(Self.supportedOperators.joined(separator: ", "))")
        }
        if node.opType != "MatMul" && node.opType != "Add" { matMulDense = nil }
        chainValues.insert(output)
        current = output
    }

    private func nodeLabel(_ node: Onnx_NodeProto) -> String {
        let name = node.name.isEmpty ? (node.output.first ?? "?") : node.name
        return "node '\(name)' (\(node.opType))"
    }

    private mutating func append(_ layer: LayerSpec) {
        layers.append(layer)
    }

    private mutating func recordConstant(_ node: Onnx_NodeProto) throws {
        guard let output = node.output.first else { return }
        let attributes = NodeAttributes(node: node, label: nodeLabel(node))
        if let tensor = attributes.tensor("value") {
            constants[output] = tensor
        } else if let ints = try attributes.ints("value_ints") {
            constants[output] = Self.int64Proto(ints.map { Int64($0) }, dims: [Int64(ints.count)])
        } else if let int = try attributes.int("value_int") {
            constants[output] = Self.int64Proto([Int64(int)], dims: [])
        } else if let float = attributes.float("value_float") {
            var proto = Onnx_TensorProto()
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.floatData = [Float(float)]
            constants[output] = proto
        } else {
            shapeValues.insert(output)
        }
    }

    private static func int64Proto(_ values: [Int64], dims: [Int64]) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        proto.dims = dims
        proto.int64Data = values
        return proto
    }

    /// The initializer (or Constant) called `name`, decoded.
    private func constant(_ name: String, role: String, of label: String) throws -> Tensor {
        guard let proto = constants[name] else {
            throw FormatError(.unsupported, location: label, "its \(role) '\(name)' is not an initializer or constant; alexconv imports weights stored in the file")
        }
        return try ONNXTensors.tensor(from: proto, name: name)
    }

    private func weight(_ name: String, role: String, of label: String) throws -> Tensor {
        let tensor = try constant(name, role: role, of: label)
        guard tensor.dtype.isFloatingPoint else {
            throw FormatError(.malformed, location: label, "its \(role) '\(name)' has element type \(tensor.dtype.name); expected a floating-point type")
        }
        return tensor
    }

    private func requireMap(_ label: String) throws -> (channels: Int, height: Int, width: Int) {
        guard case .map(let c, let h, let w) = shape else {
            throw FormatError(.malformed, location: label, "needs a feature map (N, C, H, W) but the chain carries a vector of \(shape.count) here")
        }
        return (c, h, w)
    }

    // MARK: - Windows (conv and pool)

    /// Kernel, stride and [top, left, bottom, right] padding of a 2-D window operator.
    private func window(_ attributes: NodeAttributes, kernel defaultKernel: [Int]?, height: Int, width: Int)
        throws -> (kernel: [Int], stride: [Int], padding: [Int])
    {
        let label = attributes.label
        guard let kernel = try attributes.ints("kernel_shape") ?? defaultKernel else {
            throw FormatError(.malformed, location: label, "has no kernel_shape attribute")
        }
        let stride = try attributes.ints("strides") ?? [1, 1]
        let dilations = try attributes.ints("dilations") ?? [1, 1]
        guard kernel.count == 2, stride.count == 2,
            kernel.allSatisfy({ $0 > 0 && $0 <= ONNXLimits.maxExtent }),
            stride.allSatisfy({ $0 > 0 && $0 <= ONNXLimits.maxExtent })
        else {
            throw FormatError(.malformed, location: label, "kernel_shape \(kernel) and strides \(stride) must be two positive values each (2-D windows only)")
        }
        guard dilations == [1, 1] else {
            throw FormatError(.unsupported, location: label, "dilations \(dilations) are not supported (expected [1, 1])")
        }
        var padding = try attributes.ints("pads") ?? [0, 0, 0, 0]
        guard padding.count == 4, padding.allSatisfy({ $0 >= 0 && $0 <= ONNXLimits.maxExtent }) else {
            throw FormatError(.malformed, location: label, "pads \(padding) must be four non-negative values [top, left, bottom, right]")
        }
        let autoPad = attributes.string("auto_pad") ?? "NOTSET"
        switch autoPad {
        case "NOTSET", "":
            break
        case "VALID":
            padding = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            var begin = [0, 0]
            var end = [0, 0]
            for (axis, size) in [height, width].enumerated() {
                let out = (size + stride[axis] - 1) / stride[axis]
                let total = Swift.max(0, (out - 1) * stride[axis] + kernel[axis] - size)
                let small = total / 2
                begin[axis] = autoPad == "SAME_UPPER" ? small : total - small
                end[axis] = total - begin[axis]
            }
            padding = [begin[0], begin[1], end[0], end[1]]
        default:
            throw FormatError(.malformed, location: label, "auto_pad '\(autoPad)' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
        return (kernel, stride, padding)
    }

    private func outputSize(_ label: String, height: Int, width: Int, kernel: [Int], stride: [Int], padding: [Int], ceil: Bool) throws -> (Int, Int) {
        let oh = windowOutputLength(size: height, padBegin: padding[0], padEnd: padding[2], kernel: kernel[0], stride: stride[0], ceil: ceil)
        let ow = windowOutputLength(size: width, padBegin: padding[1], padEnd: padding[3], kernel: kernel[1], stride: stride[1], ceil: ceil)
        guard oh > 0, ow > 0 else {
            throw FormatError(.malformed, location: label, "window \(kernel) with pads \(padding) does not fit the \(height)x\(width) input")
        }
        return (oh, ow)
    }

    // MARK: - Operators

    private mutating func conv(_ node: Onnx_NodeProto, _ attributes: NodeAttributes) throws {
        let label = attributes.label
        let (channels, height, width) = try requireMap(label)
        guard node.input.count >= 2 else { throw FormatError(.malformed, location: label, "has no weight input") }
        let w = try weight(node.input[1], role: "weight", of: label)
        guard w.rank == 4 else {
            throw FormatError(.malformed, location: label, "weight '\(node.input[1])' has shape \(w.shape); expected (out, in/groups, kh, kw)")
        }
        let groups = try attributes.int("group") ?? 1
        guard groups > 0, groups <= channels, channels % groups == 0, w.shape[0] % groups == 0,
            w.shape[1] * groups == channels
        else {
            throw FormatError(
                .malformed, location: label,
                "weight '\(node.input[1])' shape \(w.shape) with group \(groups) does not take \(channels) input channels")
        }
        let (kernel, stride, padding) = try window(attributes, kernel: [w.shape[2], w.shape[3]], height: height, width: width)
        guard kernel == [w.shape[2], w.shape[3]] else {
            throw FormatError(.corrupted, location: label, "kernel_shape \(kernel) disagrees with the weight's \(Array(w.shape[2...]))")
        }
        let out = w.shape[0]
        convCount += 1
        let name = "conv\(convCount)"
        var hint = LayerHint(name: name, kind: .conv, tensorNames: ["\(name).weight"])
        tensors.append(NamedTensor("\(name).weight", w))
        var hasBias = false
        if node.input.count >= 3, !node.input[2].isEmpty {
            let b = try weight(node.input[2], role: "bias", of: label)
            guard b.count == out, b.rank == 1 else {
                throw FormatError(.malformed, location: label, "bias '\(node.input[2])' has shape \(b.shape); expected [\(out)]")
            }
            tensors.append(NamedTensor("\(name).bias", b))
            hint.tensorNames.append("\(name).bias")
            hasBias = true
        }
        hints.append(hint)
        let (oh, ow) = try outputSize(label, height: height, width: width, kernel: kernel, stride: stride, padding: padding, ceil: false)
        append(.conv(ConvSpec(name: name, outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: groups, bias: hasBias)))
        shape = .map(channels: out, height: oh, width: ow)
    }

    private func lrnSpec(_ attributes: NodeAttributes) throws -> LRNSpec {
        _ = try requireMap(attributes.label)
        guard let size = try attributes.int("size"), size > 0, size <= ONNXLimits.maxExtent else {
            throw FormatError(.malformed, location: attributes.label, "needs a positive size attribute")
        }
        return LRNSpec(
            size: size, alpha: attributes.float("alpha") ?? 1e-4,
            beta: attributes.float("beta") ?? 0.75, k: attributes.float("bias") ?? 1)
    }

    private mutating func lrn(_ attributes: NodeAttributes) throws {
        let spec = try lrnSpec(attributes)
        guard spec.size % 2 == 1 else {
            throw FormatError(
                .malformed, location: attributes.label,
                "LRN size \(spec.size) is even: ONNX's window [c-\(spec.size / 2 - 1), c+\(spec.size / 2)] leans forward, alexconv's (PyTorch's) [c-\(spec.size / 2), c+\(spec.size / 2 - 1)] backward, so it cannot be imported as it is"
            )
        }
        append(.lrn(spec))
    }

    // MARK: - Exporter patterns (even-size LRN, uneven adaptive pooling)

    /// Mul(x, x) on a feature map: the start of an LRN written out in primitive operators.
    private mutating func lrnSquares(_ inputs: [String], _ label: String) throws {
        let (channels, _, _) = try requireMap(label)
        guard inputs == [current, current] else {
            throw FormatError(.unsupported, location: label, "unsupported operator 'Mul' here; alexconv imports Mul only as the squares of an LRN written out as Mul, Conv, Pow, Div")
        }
        pending = .lrnSquares(input: current, channels: channels)
    }

    /// The LRN a banded (C, C, 1, 1) channel-sum weight and constant bias stand for, when the band
    /// is PyTorch's window (size/2 channels before, (size-1)/2 after).
    private func lrnWindow(weight: String, bias: String?, channels: Int, of label: String) throws -> LRNSpec? {
        guard constants[weight] != nil else { return nil }
        let w = try constant(weight, role: "window", of: label)
        guard w.shape == [channels, channels, 1, 1] else { return nil }
        let values = w.doubles()
        let scale = values[0]
        guard scale > 0 else { return nil }
        var before = 0
        var after = 0
        for o in 0..<channels {
            let row = values[(o * channels)..<((o + 1) * channels)]
            guard let first = row.firstIndex(where: { $0 != 0 }), let last = row.lastIndex(where: { $0 != 0 }) else { return nil }
            before = max(before, o - (first - o * channels))
            after = max(after, (last - o * channels) - o)
        }
        for o in 0..<channels {
            for i in 0..<channels {
                let inside = i >= o - before && i <= o + after
                guard values[o * channels + i] == (inside ? scale : 0) else { return nil }
            }
        }
        guard before == after || before == after + 1 else { return nil }
        var k = 0.0
        if let bias {
            let b = try constant(bias, role: "bias", of: label).doubles()
            guard b.count == channels, let first = b.first, b.allSatisfy({ $0 == first }) else { return nil }
            k = Double("\(Float(first))") ?? first
        }
        let size = before + after + 1
        let alpha = Double("\(Float(scale * Double(size)))") ?? scale * Double(size)
        return LRNSpec(size: size, alpha: alpha, beta: 0, k: k)
    }

    /// Matrix `name` compared with PyTorch's adaptive averaging matrix (output, size), transposed when asked.
    private func isAdaptiveMatrix(_ name: String, from size: Int, to output: Int, transposed: Bool, of label: String) throws -> Bool {
        guard constants[name] != nil else { return false }
        let m = try constant(name, role: "matrix", of: label)
        guard m.shape == (transposed ? [size, output] : [output, size]) else { return false }
        let expected = AdaptivePooling.matrix(from: size, to: output)
        let found = (transposed ? LayoutRules.transposeDense(m) : m).doubles()
        return zip(found, expected).allSatisfy { abs($0 - Double($1)) <= 1e-6 }
    }

    private mutating func adaptiveWidth(_ node: Onnx_NodeProto, _ label: String) throws {
        let (channels, height, width) = try requireMap(label)
        guard node.input.count == 2, let b = constants[node.input[1]], b.dims.count == 2, b.dims[0] == Int64(width),
            let output = Int(exactly: b.dims[1]), output > 0, output <= width,
            try isAdaptiveMatrix(node.input[1], from: width, to: output, transposed: true, of: label)
        else {
            throw FormatError(.unsupported, location: label, "multiplies a \(shape) feature map; alexconv imports MatMul on a feature map only as adaptive average pooling (its averaging matrices)")
        }
        pending = .adaptiveWidth(output: output)
        shape = .map(channels: channels, height: height, width: output)
    }

    private mutating func continuePattern(_ state: PendingPattern, _ node: Onnx_NodeProto, _ inputs: [String], _ attributes: NodeAttributes) throws {
        let label = attributes.label
        func broken() -> FormatError {
            FormatError(.malformed, location: label, "interrupts a \(state.description): expected the pattern's next node")
        }
        switch state {
        case .lrnSquares(let x, let channels):
            guard node.opType == "Conv", inputs.first == current, inputs.count >= 2,
                let lrn = try lrnWindow(weight: inputs[1], bias: inputs.count >= 3 ? inputs[2] : nil, channels: channels, of: label)
            else { throw broken() }
            pending = .lrnSums(input: x, lrn: lrn)
        case .lrnSums(let x, var lrn):
            guard node.opType == "Pow", inputs.count == 2, inputs[0] == current, constants[inputs[1]] != nil else { throw broken() }
            let exponent = try constant(inputs[1], role: "exponent", of: label).doubles()
            guard exponent.count == 1 else { throw broken() }
            lrn.beta = Double("\(Float(exponent[0]))") ?? exponent[0]
            pending = .lrnDenominator(input: x, lrn: lrn)
        case .lrnDenominator(let x, let lrn):
            guard node.opType == "Div", inputs == [x, current] else { throw broken() }
            append(.lrn(lrn))
            pending = nil
        case .adaptiveWidth(let outputWidth):
            guard node.opType == "MatMul", inputs.count == 2, inputs[1] == current,
                case .map(let channels, let height, _) = shape,
                let a = constants[inputs[0]], a.dims.count == 2, a.dims[1] == Int64(height),
                let outputHeight = Int(exactly: a.dims[0]), outputHeight > 0, outputHeight <= height,
                try isAdaptiveMatrix(inputs[0], from: height, to: outputHeight, transposed: false, of: label)
            else { throw broken() }
            append(.adaptiveAvgPool([outputHeight, outputWidth]))
            shape = .map(channels: channels, height: outputHeight, width: outputWidth)
            pending = nil
        }
    }

    private mutating func pool(_ node: Onnx_NodeProto, _ attributes: NodeAttributes) throws {
        let label = attributes.label
        let (channels, height, width) = try requireMap(label)
        if node.output.count > 1, !node.output[1].isEmpty {
            notes.append("\(label): its indices output '\(node.output[1])' is ignored")
        }
        let (kernel, stride, padding) = try window(attributes, kernel: nil, height: height, width: width)
        let ceil = (try attributes.int("ceil_mode") ?? 0) != 0
        let (oh, ow) = try outputSize(label, height: height, width: width, kernel: kernel, stride: stride, padding: padding, ceil: ceil)
        if node.opType == "MaxPool" {
            append(.maxPool(PoolSpec(kernel: kernel, stride: stride, padding: padding, ceilMode: ceil, countIncludePad: true)))
        } else {
            let includePad = (try attributes.int("count_include_pad") ?? 0) != 0
            append(.avgPool(PoolSpec(kernel: kernel, stride: stride, padding: padding, ceilMode: ceil, countIncludePad: includePad)))
        }
        shape = .map(channels: channels, height: oh, width: ow)
    }

    private mutating func globalPool(_ node: Onnx_NodeProto, _ label: String) throws {
        let (channels, height, width) = try requireMap(label)
        if node.opType == "GlobalAveragePool" {
            append(.adaptiveAvgPool([1, 1]))
        } else {
            append(.maxPool(PoolSpec(kernel: [height, width], stride: [height, width], padding: [0, 0, 0, 0], ceilMode: false, countIncludePad: true)))
        }
        shape = .map(channels: channels, height: 1, width: 1)
    }

    private mutating func batchNorm(_ node: Onnx_NodeProto, _ attributes: NodeAttributes) throws {
        let label = attributes.label
        guard node.input.count >= 5 else { throw FormatError(.malformed, location: label, "needs 5 inputs (X, scale, B, mean, var), found \(node.input.count)") }
        if let training = try attributes.int("training_mode"), training != 0 {
            throw FormatError(.unsupported, location: label, "has training_mode 1; alexconv imports inference graphs")
        }
        if let spatial = try attributes.int("spatial"), spatial != 1 {
            throw FormatError(.unsupported, location: label, "has spatial 0 (per-element statistics), which alexconv does not support")
        }
        let channels: Int
        switch shape {
        case .map(let c, _, _): channels = c
        case .vector(let n): channels = n
        }
        bnCount += 1
        let name = "bn\(bnCount)"
        let roles = ["weight", "bias", "running_mean", "running_var"]
        for (index, role) in roles.enumerated() {
            let input = node.input[index + 1]
            let t = try weight(input, role: role, of: label)
            guard t.count == channels, t.rank == 1 else {
                throw FormatError(.malformed, location: label, "\(role) '\(input)' has shape \(t.shape); expected [\(channels)]")
            }
            tensors.append(NamedTensor("\(name).\(role)", t))
        }
        hints.append(LayerHint(name: name, kind: .batchNorm, tensorNames: roles.map { "\(name).\($0)" }))
        append(.batchNorm(BatchNormSpec(name: name, epsilon: attributes.float("epsilon") ?? 1e-5)))
    }

    private mutating func flatten(_ attributes: NodeAttributes, _ label: String) throws {
        let axis = try attributes.int("axis") ?? 1
        let rank = { if case .map = shape { return 4 } else { return 2 } }()
        guard axis == 1 || axis == 1 - rank else {
            throw FormatError(.unsupported, location: label, "flattens from axis \(axis); alexconv supports flattening everything after the batch axis (axis 1)")
        }
        if case .map = shape {
            append(.flatten)
            shape = .vector(shape.count)
        }
    }

    private mutating func reshape(_ node: Onnx_NodeProto, _ label: String) throws {
        guard node.input.count >= 2 else { throw FormatError(.malformed, location: label, "has no shape input") }
        let target = node.input[1]
        if constants[target] != nil {
            let values = try constant(target, role: "shape", of: label).doubles().map { value -> Int in
                guard let int = Int(exactly: value), abs(int) <= Int(Int32.max) else {
                    throw FormatError(.malformed, location: label, "shape value \(value) is out of range")
                }
                return int
            }
            let count = shape.count
            guard values.count == 2, [0, 1, -1].contains(values[0]) || values[0] > 0,
                values[1] == count || (values[1] == -1 && values[0] != -1)
            else {
                throw FormatError(
                    .unsupported, location: label,
                    "reshapes to \(values); alexconv supports a reshape to (batch, \(count)) that flattens the \(shape) activations")
            }
            if values[0] > 0 {
                notes.append("\(label): reshape to \(values) fixes the batch size; alexconv runs it for any batch")
            }
        } else if shapeValues.contains(target) {
            notes.append("\(label): shape computed in the graph; taken as a flatten to (batch, \(shape.count))")
        } else {
            throw FormatError(.malformed, location: label, "its shape input '\(target)' is not a constant or a shape computation")
        }
        if case .map = shape {
            append(.flatten)
            shape = .vector(shape.count)
        }
    }

    private mutating func dense(_ label: String, weight w: Tensor, bias b: Tensor?, biasName: String?) throws {
        guard case .vector(let features) = shape else {
            throw FormatError(.malformed, location: label, "multiplies a \(shape) feature map; expected a Flatten or Reshape before it")
        }
        guard w.rank == 2, w.shape[1] == features else {
            throw FormatError(.malformed, location: label, "weight (out, in) \(w.shape) does not take the \(features) features before it")
        }
        let out = w.shape[0]
        denseCount += 1
        let name = "fc\(convCount + denseCount)"
        tensors.append(NamedTensor("\(name).weight", w))
        var hint = LayerHint(name: name, kind: .dense, tensorNames: ["\(name).weight"])
        if let b {
            guard b.count == out, b.rank == 1 || (b.rank == 2 && b.shape[0] == 1) else {
                throw FormatError(.malformed, location: label, "bias '\(biasName ?? "?")' has shape \(b.shape); expected [\(out)]")
            }
            tensors.append(NamedTensor("\(name).bias", b.reshaped([out])))
            hint.tensorNames.append("\(name).bias")
        }
        hints.append(hint)
        append(.dense(DenseSpec(name: name, outFeatures: out, bias: b != nil)))
        shape = .vector(out)
    }

    private mutating func gemm(_ node: Onnx_NodeProto, _ attributes: NodeAttributes) throws {
        let label = attributes.label
        guard node.input.count >= 2 else { throw FormatError(.malformed, location: label, "has no weight input") }
        if (try attributes.int("transA") ?? 0) != 0 {
            throw FormatError(.malformed, location: label, "has transA 1; expected the activations as A (N, in)")
        }
        for key in ["alpha", "beta"] {
            if let value = attributes.float(key), value != 1 {
                throw FormatError(.unsupported, location: label, "has \(key) \(value); alexconv imports Gemm with alpha = beta = 1")
            }
        }
        var w = try weight(node.input[1], role: "weight", of: label)
        guard w.rank == 2 else {
            throw FormatError(.malformed, location: label, "weight '\(node.input[1])' has shape \(w.shape); expected a matrix")
        }
        if (try attributes.int("transB") ?? 0) == 0 {
            w = LayoutRules.transposeDense(w)  // stored (in, out)
        }
        var bias: Tensor?
        if node.input.count >= 3, !node.input[2].isEmpty {
            bias = try weight(node.input[2], role: "bias", of: label)
        }
        try dense(label, weight: w, bias: bias, biasName: node.input.count >= 3 ? node.input[2] : nil)
    }

    private mutating func matMul(_ node: Onnx_NodeProto, _ label: String) throws {
        guard node.input.count >= 2 else { throw FormatError(.malformed, location: label, "has no weight input") }
        let w = try weight(node.input[1], role: "weight", of: label)
        guard w.rank == 2 else {
            throw FormatError(.malformed, location: label, "weight '\(node.input[1])' has shape \(w.shape); expected (in, out)")
        }
        try dense(label, weight: LayoutRules.transposeDense(w), bias: nil, biasName: nil)
        matMulDense = layers.count - 1
    }

    /// Add after MatMul: the dense layer's bias.
    private mutating func add(_ node: Onnx_NodeProto, _ label: String) throws {
        guard let index = matMulDense, case .dense(var d) = layers[index], !d.bias,
            let biasName = node.input.first(where: { $0 != current }), constants[biasName] != nil
        else {
            throw FormatError(.unsupported, location: label, "unsupported operator 'Add' here; alexconv imports Add only as the bias of the MatMul before it")
        }
        let b = try weight(biasName, role: "bias", of: label)
        guard b.count == d.outFeatures, b.rank == 1 || (b.rank == 2 && b.shape[0] == 1) else {
            throw FormatError(.malformed, location: label, "bias '\(biasName)' has shape \(b.shape); expected [\(d.outFeatures)]")
        }
        d.bias = true
        layers[index] = .dense(d)
        tensors.append(NamedTensor("\(d.name).bias", b.reshaped([d.outFeatures])))
        if let h = hints.lastIndex(where: { $0.name == d.name }) { hints[h].tensorNames.append("\(d.name).bias") }
        matMulDense = nil
    }

    private mutating func dropout(_ node: Onnx_NodeProto, _ attributes: NodeAttributes) throws {
        var rate = attributes.float("ratio") ?? 0.5
        if node.input.count >= 2, !node.input[1].isEmpty, constants[node.input[1]] != nil {
            let values = try constant(node.input[1], role: "ratio", of: attributes.label).doubles()
            if let first = values.first { rate = Double("\(Float(first))") ?? first }
        }
        append(.dropout(rate))
    }

    private mutating func softmax(_ attributes: NodeAttributes, _ label: String) throws {
        guard case .vector = shape else {
            throw FormatError(.unsupported, location: label, "applies softmax to a feature map; alexconv supports softmax over the class vector")
        }
        let axis = try attributes.int("axis") ?? (opset >= 13 ? -1 : 1)
        guard axis == 1 || axis == -1 else {
            throw FormatError(.malformed, location: label, "softmax over axis \(axis); expected axis 1 (the classes)")
        }
        append(.softmax)
    }
}

// MARK: - Attributes

/// Typed access to a node's attributes; values from the file are range-checked.
struct NodeAttributes {
    let node: Onnx_NodeProto
    let label: String

    private func attribute(_ name: String) -> Onnx_AttributeProto? {
        node.attribute.first { $0.name == name }
    }

    func int(_ name: String) throws -> Int? {
        guard let a = attribute(name), a.hasI || a.type == .int else { return nil }
        guard let value = Int(exactly: a.i), abs(value) <= ONNXLimits.maxExtent else {
            throw FormatError(.malformed, location: label, "attribute \(name) = \(a.i) is out of range")
        }
        return value
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let a = attribute(name), !a.ints.isEmpty || a.type == .ints else { return nil }
        return try a.ints.map { v in
            guard let value = Int(exactly: v), abs(value) <= ONNXLimits.maxExtent else {
                throw FormatError(.malformed, location: label, "attribute \(name) value \(v) is out of range")
            }
            return value
        }
    }

    /// A float attribute as the shortest decimal that round-trips its float32 value (0.001, not 0.0010000000474974513).
    func float(_ name: String) -> Double? {
        guard let a = attribute(name), a.hasF || a.type == .float else { return nil }
        return Double("\(a.f)") ?? Double(a.f)
    }

    func string(_ name: String) -> String? {
        guard let a = attribute(name), a.hasS || a.type == .string else { return nil }
        return String(decoding: a.s, as: UTF8.self)
    }

    func tensor(_ name: String) -> Onnx_TensorProto? {
        guard let a = attribute(name), a.hasT else { return nil }
        return a.t
    }
}
