import AlexConvCore
import Foundation
import SwiftProtobuf

/// Writes a canonical `Model` as a runnable ONNX graph (`--format onnx`).
///
/// Input `data` float32 (N, C, H, W) with a dynamic batch dimension `N`, in the model's own channel
/// order and preprocessing (recorded in `metadata_props["alexconv.spec"]`); output `output`
/// (N, classes): probabilities when the spec ends in softmax, else logits. Initializers keep the
/// canonical names and layouts: Conv weights (out, in/groups, kh, kw) with `group`, Gemm weights
/// (out, in) with `transB = 1`.
public enum ONNXExporter: ModelExporter {
    /// Operator set written (the default `ai.onnx` domain).
    public static let opsetVersion: Int64 = 13
    /// IR version written: 7 pairs with opset 13 and loads in every onnxruntime since 1.6.
    public static let irVersion: Int64 = 7
    /// Name of the graph input.
    public static let inputName = "data"
    /// Name of the graph output.
    public static let outputName = "output"
    /// Symbolic batch dimension of the input and output.
    public static let batchDimension = "N"

    public static let formats = ["onnx"]

    public static func fileExtension(for format: String) -> String { ".onnx" }
    public static func namings(for format: String) -> [String] { ["canonical", "alexconv"] }

    /// Writes `model` as an ONNX file at `path`, atomically.
    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        guard format == "onnx" else { throw UsageError("the ONNX exporter writes format 'onnx', not '\(format)'") }
        let data = try serialize(model, options: options)
        try writeAtomically(to: path, overwrite: options.overwrite) { try $0.write(data) }
    }

    /// The serialized ModelProto for `model`.
    public static func serialize(_ model: Model, options: ExportOptions = ExportOptions()) throws -> Data {
        let proto = try modelProto(model, options: options)
        do {
            return try proto.serializedData()
        } catch {
            throw ModelError("cannot serialize the ONNX model: \(error)")
        }
    }

    // MARK: - Building the graph

    static func modelProto(_ model: Model, options: ExportOptions) throws -> Onnx_ModelProto {
        if let dtype = options.dtype, dtype != .float32 {
            throw UsageError("ONNX export writes float32 weights (the graph's input is float32); dtype \(dtype.name) is not supported for onnx")
        }
        _ = try ONNXExporter.checkedNaming(options, format: "onnx")
        try model.validate()
        let spec = model.spec
        var builder = GraphBuilder(model: model)
        try builder.build()

        var graph = Onnx_GraphProto()
        graph.name = spec.name
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        graph.input = [valueInfo(inputName, dims: [nil, spec.input.channels, spec.input.height, spec.input.width])]
        graph.output = [valueInfo(outputName, dims: [nil] + builder.outputDims)]
        graph.docString = inputDescription(spec)

        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion
        proto.producerName = "alexconv"
        proto.producerVersion = "1"
        proto.docString = "AlexNet-family model '\(spec.name)' converted by alexconv from \(model.source). \(inputDescription(spec))"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        proto.opsetImport = [opset]
        proto.graph = graph
        proto.metadataProps = [
            entry(CanonicalFile.specKey, spec.json()),
            entry(CanonicalFile.sourceKey, model.source),
            entry("alexconv.preprocessing", inputDescription(spec)),
        ]
        return proto
    }

    /// One line for humans: what `data` must hold.
    static func inputDescription(_ spec: ArchitectureSpec) -> String {
        let input = spec.input
        func list(_ values: [Double]) -> String { values.map { "\($0)" }.joined(separator: ", ") }
        return "Input '\(inputName)': float32 (N, \(input.channels), \(input.height), \(input.width)), channels \(input.channelOrder.rawValue.uppercased()), "
            + "values (pixel * \(input.scale) - mean) / std with mean [\(list(input.mean))], std [\(list(input.std))] per channel."
    }

    static func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
        var e = Onnx_StringStringEntryProto()
        e.key = key
        e.value = value
        return e
    }

    /// A float tensor value info; nil dims are the symbolic batch dimension.
    static func valueInfo(_ name: String, dims: [Int?]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { value in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let value { dim.dimValue = Int64(value) } else { dim.dimParam = batchDimension }
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

// MARK: - Graph builder

/// Emits one node per spec layer along a chain of values named after the layers.
private struct GraphBuilder {
    let model: Model
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// Output dims after the batch dimension.
    var outputDims: [Int] = []
    private var current = ONNXExporter.inputName
    private var usedNames: Set<String> = [ONNXExporter.inputName]
    private var block = 0

    init(model: Model) { self.model = model }

    mutating func build() throws {
        let spec = model.spec
        let shapes = try spec.activationShapes()
        var previous = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        for (index, layer) in spec.layers.enumerated() {
            let after = shapes[index]
            switch layer {
            case .conv(let c):
                block += 1
                var inputs = [current, try initializer("\(c.name).weight")]
                if c.bias { inputs.append(try initializer("\(c.name).bias")) }
                emit(
                    "Conv", inputs, output: c.name,
                    attributes: [
                        .ints("kernel_shape", c.kernel), .ints("strides", c.stride), .ints("pads", c.padding),
                        .ints("dilations", [1, 1]), .int("group", c.groups),
                    ])
            case .relu:
                emit("Relu", [current], output: "\(current)_relu")
            case .lrn(let l):
                try localResponseNorm(l, on: previous)
            case .batchNorm(let b):
                let inputs = try [current] + ["weight", "bias", "running_mean", "running_var"].map { try initializer("\(b.name).\($0)") }
                emit("BatchNormalization", inputs, output: b.name, attributes: [.float("epsilon", b.epsilon)])
            case .maxPool(let p):
                emit(
                    "MaxPool", [current], output: "pool\(block)",
                    attributes: [
                        .ints("kernel_shape", p.kernel), .ints("strides", p.stride), .ints("pads", p.padding),
                        .int("ceil_mode", p.ceilMode ? 1 : 0),
                    ])
            case .avgPool(let p):
                emit(
                    "AveragePool", [current], output: "avgpool\(block)",
                    attributes: [
                        .ints("kernel_shape", p.kernel), .ints("strides", p.stride), .ints("pads", p.padding),
                        .int("ceil_mode", p.ceilMode ? 1 : 0), .int("count_include_pad", p.countIncludePad ? 1 : 0),
                    ])
            case .adaptiveAvgPool(let size):
                try adaptiveAveragePool(to: size, from: previous, layer: index)
            case .flatten:
                if case .map = previous {
                    emit("Flatten", [current], output: "flatten", attributes: [.int("axis", 1)])
                }
            case .dense(let d):
                var inputs = [current, try initializer("\(d.name).weight")]
                if d.bias { inputs.append(try initializer("\(d.name).bias")) }
                emit(
                    "Gemm", inputs, output: d.name,
                    attributes: [
                        .float("alpha", 1), .float("beta", 1), .int("transA", 0), .int("transB", 1),
                    ])
            case .dropout:
                break  // identity at inference; the rate stays in the recorded spec
            case .softmax:
                guard case .vector = previous else {
                    throw ModelError("architecture \(spec.name): layer \(index + 1) (softmax) applies to a feature map; ONNX export supports softmax over the class vector")
                }
                emit("Softmax", [current], output: "prob", attributes: [.int("axis", 1)])
            }
            previous = after
        }
        switch previous {
        case .map(let c, let h, let w): outputDims = [c, h, w]
        case .vector(let n): outputDims = [n]
        }
        try renameFinalOutput()
    }

    /// LRN with alexconv's (PyTorch's) window. For odd sizes that is ONNX's LRN. For even sizes
    /// ONNX's window leans forward ([c - size/2 + 1, c + size/2]) where PyTorch's leans backward
    /// ([c - size/2, c + size/2 - 1]), and onnxruntime refuses even sizes anyway, so the layer is
    /// written out: x / Pow(Conv(x*x, band * alpha/size, bias k), beta), where the (C, C, 1, 1)
    /// band sums PyTorch's window of squares.
    private mutating func localResponseNorm(_ l: LRNSpec, on shape: ActivationShape) throws {
        let name = uniqueName("norm\(block)")
        usedNames.remove(name)
        guard l.size % 2 == 0, case .map(let channels, _, _) = shape else {
            emit(
                "LRN", [current], output: name,
                attributes: [
                    .int("size", l.size), .float("alpha", l.alpha), .float("beta", l.beta), .float("bias", l.k),
                ])
            return
        }
        let x = current
        let scale = Float(l.alpha / Double(l.size))
        var band = [Float](repeating: 0, count: channels * channels)
        for o in 0..<channels {
            for i in max(0, o - l.size / 2)...min(channels - 1, o + (l.size - 1) / 2) { band[o * channels + i] = scale }
        }
        let window = uniqueName("\(name)_window")
        let bias = uniqueName("\(name)_k")
        let beta = uniqueName("\(name)_beta")
        initializers.append(ONNXTensors.proto(name: window, tensor: Tensor(band, shape: [channels, channels, 1, 1])))
        initializers.append(ONNXTensors.proto(name: bias, tensor: Tensor([Float](repeating: Float(l.k), count: channels), shape: [channels])))
        initializers.append(ONNXTensors.proto(name: beta, tensor: Tensor([Float(l.beta)], shape: [])))
        emit("Mul", [x, x], output: "\(name)_squares")
        emit(
            "Conv", [current, window, bias], output: "\(name)_sums",
            attributes: [
                .ints("kernel_shape", [1, 1]), .ints("strides", [1, 1]), .ints("pads", [0, 0, 0, 0]), .int("group", 1),
            ])
        emit("Pow", [current, beta], output: "\(name)_denominator")
        emit("Div", [x, current], output: name)
    }

    /// PyTorch adaptive average pooling as ONNX: identity when the map already has the target
    /// size, GlobalAveragePool for 1x1, AveragePool when the size divides evenly (all windows
    /// equal), and otherwise two MatMuls with PyTorch's averaging matrices (X · Aw^T, then Ah · _),
    /// which is exact for uneven and overlapping windows.
    private mutating func adaptiveAveragePool(to size: [Int], from shape: ActivationShape, layer: Int) throws {
        guard case .map(_, let h, let w) = shape, size.count == 2 else { return }
        if size == [h, w] { return }
        let name = uniqueName("avgpool\(block)")
        usedNames.remove(name)
        if size == [1, 1] {
            emit("GlobalAveragePool", [current], output: name)
            return
        }
        guard size[0] > 0, size[1] > 0 else {
            throw ModelError("architecture \(model.spec.name): layer \(layer + 1) (adaptiveavgpool) has output size \(size)")
        }
        if h % size[0] == 0, w % size[1] == 0 {
            let kernel = [h / size[0], w / size[1]]
            emit(
                "AveragePool", [current], output: name,
                attributes: [
                    .ints("kernel_shape", kernel), .ints("strides", kernel), .ints("pads", [0, 0, 0, 0]),
                    .int("ceil_mode", 0), .int("count_include_pad", 0),
                ])
            return
        }
        let widthMatrix = Tensor(AdaptivePooling.matrix(from: w, to: size[1]), shape: [size[1], w]).transposed([1, 0])
        let heightMatrix = Tensor(AdaptivePooling.matrix(from: h, to: size[0]), shape: [size[0], h])
        let widthName = uniqueName("\(name)_width_matrix")
        let heightName = uniqueName("\(name)_height_matrix")
        initializers.append(ONNXTensors.proto(name: widthName, tensor: widthMatrix))
        initializers.append(ONNXTensors.proto(name: heightName, tensor: heightMatrix))
        emit("MatMul", [current, widthName], output: "\(name)_width")
        emit("MatMul", [heightName, current], output: name)
    }

    /// The last node's output becomes the graph output `output`.
    private mutating func renameFinalOutput() throws {
        guard var last = nodes.popLast() else {
            throw ModelError("architecture \(model.spec.name) has no layers to export")
        }
        last.output = [ONNXExporter.outputName]
        nodes.append(last)
    }

    private mutating func initializer(_ name: String) throws -> String {
        let tensor = try model.tensor(name)
        initializers.append(ONNXTensors.proto(name: name, tensor: tensor))
        usedNames.insert(name)
        return name
    }

    private mutating func uniqueName(_ base: String) -> String {
        var name = base
        var suffix = 2
        while usedNames.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        usedNames.insert(name)
        return name
    }

    private mutating func emit(_ op: String, _ inputs: [String], output base: String, attributes: [Attribute] = []) {
        let output = uniqueName(base)
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = output
        node.input = inputs
        node.output = [output]
        node.attribute = attributes.map(\.proto)
        nodes.append(node)
        current = output
    }
}

/// A node attribute to write.
private enum Attribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Double)

    var proto: Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        switch self {
        case .int(let name, let value):
            a.name = name
            a.type = .int
            a.i = Int64(value)
        case .ints(let name, let values):
            a.name = name
            a.type = .ints
            a.ints = values.map { Int64($0) }
        case .float(let name, let value):
            a.name = name
            a.type = .float
            a.f = Float(value)
        }
        return a
    }
}
