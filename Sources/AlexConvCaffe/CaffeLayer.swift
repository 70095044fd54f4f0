import AlexConvCore
import Foundation

/// Which generation of Caffe's net format a file uses.
enum CaffeGeneration: String {
    /// `layers` (NetParameter field 2): V1LayerParameter, enum types (CONVOLUTION = 4, ...), legacy
    /// num/channels/height/width blob dims. The 2014 model zoo files.
    case v1 = "V1 `layers` (enum layer types)"
    /// `layer` (NetParameter field 100): LayerParameter, string types, BlobShape.
    case current = "`layer` (string layer types)"
}

/// One layer of a Caffe net in either generation, with its V1 enum type upgraded to the string
/// Caffe's `UpgradeV1LayerType` gives it.
struct CaffeLayer {
    enum Source {
        case current(Caffe_LayerParameter)
        case v1(Caffe_V1LayerParameter)
    }
    let source: Source
    /// The layer's blobs (weights), from the caffemodel.
    var blobs: [CaffeBlob]
    /// Position in the file's layer list (for messages when a layer has no name).
    let index: Int

    var name: String {
        switch source {
        case .current(let l): return l.name
        case .v1(let l): return l.name
        }
    }

    /// The type as Caffe names it today ("Convolution", "InnerProduct", ...).
    let type: String

    /// "layer 'conv1' (Convolution)" / "layer 'conv1' (V1 CONVOLUTION)".
    var label: String {
        let shown = name.isEmpty ? "#\(index)" : "'\(oneLine(name))'"
        switch source {
        case .current: return "layer \(shown) (\(oneLine(type)))"
        case .v1(let l): return "layer \(shown) (V1 \(CaffeLayer.v1Names[l.type]?.v1 ?? "type \(l.type.rawValue)"))"
        }
    }

    var bottoms: [String] {
        switch source {
        case .current(let l): return l.bottom
        case .v1(let l): return l.bottom
        }
    }
    var tops: [String] {
        switch source {
        case .current(let l): return l.top
        case .v1(let l): return l.top
        }
    }
    var include: [Caffe_NetStateRule] {
        switch source {
        case .current(let l): return l.include
        case .v1(let l): return l.include
        }
    }
    var exclude: [Caffe_NetStateRule] {
        switch source {
        case .current(let l): return l.exclude
        case .v1(let l): return l.exclude
        }
    }
    var convolution: Caffe_ConvolutionParameter {
        switch source {
        case .current(let l): return l.convolutionParam
        case .v1(let l): return l.convolutionParam
        }
    }
    var innerProduct: Caffe_InnerProductParameter {
        switch source {
        case .current(let l): return l.innerProductParam
        case .v1(let l): return l.innerProductParam
        }
    }
    var lrn: Caffe_LRNParameter {
        switch source {
        case .current(let l): return l.lrnParam
        case .v1(let l): return l.lrnParam
        }
    }
    var pooling: Caffe_PoolingParameter {
        switch source {
        case .current(let l): return l.poolingParam
        case .v1(let l): return l.poolingParam
        }
    }
    var dropout: Caffe_DropoutParameter {
        switch source {
        case .current(let l): return l.dropoutParam
        case .v1(let l): return l.dropoutParam
        }
    }
    var softmax: Caffe_SoftmaxParameter {
        switch source {
        case .current(let l): return l.softmaxParam
        case .v1(let l): return l.softmaxParam
        }
    }
    var relu: Caffe_ReLUParameter {
        switch source {
        case .current(let l): return l.reluParam
        case .v1(let l): return l.reluParam
        }
    }
    var memoryData: Caffe_MemoryDataParameter {
        switch source {
        case .current(let l): return l.memoryDataParam
        case .v1(let l): return l.memoryDataParam
        }
    }
    var dummyData: Caffe_DummyDataParameter {
        switch source {
        case .current(let l): return l.dummyDataParam
        case .v1(let l): return l.dummyDataParam
        }
    }
    /// The data transformation (crop, scale, mean) of a data layer, when it states one: its
    /// `transform_param`, or the deprecated fields of its data/image_data/window_data parameters, moved
    /// over as Caffe's `UpgradeNetDataTransformation` does (nets from before mid-2014).
    var transform: Caffe_TransformationParameter? {
        let stated: Caffe_TransformationParameter?
        let legacy: [(hasScale: Bool, scale: Float, meanFile: String?, cropSize: UInt32?, mirror: Bool?)]
        switch source {
        case .current(let l):
            stated = l.hasTransformParam ? l.transformParam : nil
            legacy = Self.legacyTransforms(l.dataParam, l.imageDataParam, l.windowDataParam)
        case .v1(let l):
            stated = l.hasTransformParam ? l.transformParam : nil
            legacy = Self.legacyTransforms(l.dataParam, l.imageDataParam, l.windowDataParam)
        }
        if let stated { return stated }
        guard let old = legacy.first(where: { $0.hasScale || $0.meanFile != nil || $0.cropSize != nil || $0.mirror != nil }) else { return nil }
        var transform = Caffe_TransformationParameter()
        if old.hasScale { transform.scale = old.scale }
        if let meanFile = old.meanFile { transform.meanFile = meanFile }
        if let cropSize = old.cropSize { transform.cropSize = cropSize }
        if let mirror = old.mirror { transform.mirror = mirror }
        return transform
    }

    private static func legacyTransforms(_ d: Caffe_DataParameter, _ i: Caffe_ImageDataParameter, _ w: Caffe_WindowDataParameter)
        -> [(hasScale: Bool, scale: Float, meanFile: String?, cropSize: UInt32?, mirror: Bool?)]
    {
        [
            (d.hasScale, d.scale, d.hasMeanFile ? d.meanFile : nil, d.hasCropSize ? d.cropSize : nil, d.hasMirror ? d.mirror : nil),
            (i.hasScale, i.scale, i.hasMeanFile ? i.meanFile : nil, i.hasCropSize ? i.cropSize : nil, i.hasMirror ? i.mirror : nil),
            (w.hasScale, w.scale, w.hasMeanFile ? w.meanFile : nil, w.hasCropSize ? w.cropSize : nil, w.hasMirror ? w.mirror : nil),
        ]
    }
    /// Parameters only the current format has (V1 nets have none of these layers).
    var current: Caffe_LayerParameter? {
        if case .current(let l) = source { return l }
        return nil
    }

    init(_ layer: Caffe_LayerParameter, index: Int, blobs: [CaffeBlob]) {
        self.source = .current(layer)
        self.type = layer.type
        self.index = index
        self.blobs = blobs
    }

    /// A V1 layer; `rawType` is the enum number in the file (kept when caffe.proto does not know it).
    init(_ layer: Caffe_V1LayerParameter, index: Int, blobs: [CaffeBlob], rawType: UInt64?) throws {
        self.source = .v1(layer)
        self.index = index
        self.blobs = blobs
        let shown = layer.name.isEmpty ? "#\(index)" : "'\(oneLine(layer.name))'"
        guard layer.hasType else {
            if let rawType {
                throw FormatError(.unsupported, location: "layer \(shown)", "has V1 layer type \(rawType), which is not one caffe.proto defines")
            }
            throw FormatError(.malformed, location: "layer \(shown)", "has no type (V1 field 5)")
        }
        guard let names = CaffeLayer.v1Names[layer.type], !names.current.isEmpty else {
            throw FormatError(.malformed, location: "layer \(shown)", "has V1 layer type NONE")
        }
        self.type = names.current
    }

    /// V1 enum -> (its V1 spelling, the current type string), as Caffe's `UpgradeV1LayerType`.
    static let v1Names: [Caffe_V1LayerParameter.LayerType: (v1: String, current: String)] = [
        .none: ("NONE", ""), .absval: ("ABSVAL", "AbsVal"), .accuracy: ("ACCURACY", "Accuracy"),
        .argmax: ("ARGMAX", "ArgMax"), .bnll: ("BNLL", "BNLL"), .concat: ("CONCAT", "Concat"),
        .contrastiveLoss: ("CONTRASTIVE_LOSS", "ContrastiveLoss"), .convolution: ("CONVOLUTION", "Convolution"),
        .deconvolution: ("DECONVOLUTION", "Deconvolution"), .data: ("DATA", "Data"), .dropout: ("DROPOUT", "Dropout"),
        .dummyData: ("DUMMY_DATA", "DummyData"), .euclideanLoss: ("EUCLIDEAN_LOSS", "EuclideanLoss"),
        .eltwise: ("ELTWISE", "Eltwise"), .exp: ("EXP", "Exp"), .flatten: ("FLATTEN", "Flatten"),
        .hdf5Data: ("HDF5_DATA", "HDF5Data"), .hdf5Output: ("HDF5_OUTPUT", "HDF5Output"),
        .hingeLoss: ("HINGE_LOSS", "HingeLoss"), .im2Col: ("IM2COL", "Im2col"), .imageData: ("IMAGE_DATA", "ImageData"),
        .infogainLoss: ("INFOGAIN_LOSS", "InfogainLoss"), .innerProduct: ("INNER_PRODUCT", "InnerProduct"),
        .lrn: ("LRN", "LRN"), .memoryData: ("MEMORY_DATA", "MemoryData"),
        .multinomialLogisticLoss: ("MULTINOMIAL_LOGISTIC_LOSS", "MultinomialLogisticLoss"), .mvn: ("MVN", "MVN"),
        .pooling: ("POOLING", "Pooling"), .power: ("POWER", "Power"), .relu: ("RELU", "ReLU"),
        .sigmoid: ("SIGMOID", "Sigmoid"), .sigmoidCrossEntropyLoss: ("SIGMOID_CROSS_ENTROPY_LOSS", "SigmoidCrossEntropyLoss"),
        .silence: ("SILENCE", "Silence"), .softmax: ("SOFTMAX", "Softmax"), .softmaxLoss: ("SOFTMAX_LOSS", "SoftmaxWithLoss"),
        .split: ("SPLIT", "Split"), .slice: ("SLICE", "Slice"), .tanh: ("TANH", "TanH"),
        .windowData: ("WINDOW_DATA", "WindowData"), .threshold: ("THRESHOLD", "Threshold"),
    ]

    // MARK: - Phase rules

    /// True when Caffe includes the layer in a TEST-phase net (level 0, no stages): `Net::FilterNet`.
    func includedAtTest() throws -> Bool {
        guard include.isEmpty || exclude.isEmpty else {
            throw FormatError(.malformed, location: label, "has both include and exclude rules; Caffe accepts one kind only")
        }
        if !include.isEmpty { return include.contains(where: Self.testStateMeets) }
        return !exclude.contains(where: Self.testStateMeets)
    }

    /// `Net::StateMeetsRule` for the state {phase: TEST, level: 0, stage: []}.
    static func testStateMeets(_ rule: Caffe_NetStateRule) -> Bool {
        if rule.hasPhase && rule.phase != .test { return false }
        if rule.hasMinLevel && 0 < rule.minLevel { return false }
        if rule.hasMaxLevel && 0 > rule.maxLevel { return false }
        return rule.stage.isEmpty
    }

    /// The phases the include rules name, in words ("phase TRAIN"), for notes.
    var ruleWords: String {
        let rules = include.isEmpty ? exclude : include
        let parts = rules.map { rule -> String in
            var words: [String] = []
            if rule.hasPhase { words.append("phase \(rule.phase == .train ? "TRAIN" : "TEST")") }
            if rule.hasMinLevel { words.append("level >= \(rule.minLevel)") }
            if rule.hasMaxLevel { words.append("level <= \(rule.maxLevel)") }
            if !rule.stage.isEmpty { words.append("stages \(rule.stage.map(oneLine))") }
            return words.joined(separator: ", ")
        }
        return "\(include.isEmpty ? "excluded in" : "included only in") \(parts.joined(separator: " or "))"
    }
}

/// A Caffe net as alexconv reads it: its name, the inputs it declares and its layers in order.
struct CaffeNet {
    var name: String
    var generation: CaffeGeneration
    /// Net-level inputs (`input` + `input_shape` or `input_dim`), with their dims when stated.
    var inputs: [(name: String, dims: [Int]?)]
    var layers: [CaffeLayer]

    /// The net described by `net` (blobs per layer from `layerBlobs`/`v1LayerBlobs` when it comes
    /// from a caffemodel). Nets that mix `layer` and `layers` are refused, as Caffe refuses them.
    init(
        _ net: Caffe_NetParameter, layerBlobs: [[CaffeBlob]]? = nil, v1LayerBlobs: [[CaffeBlob]]? = nil,
        v1TypeNumbers: [UInt64?]? = nil
    ) throws {
        guard net.layer.isEmpty || net.layers.isEmpty else {
            throw FormatError(
                .malformed,
                "the net has both `layer` (\(net.layer.count), current format) and `layers` (\(net.layers.count), V1 format) entries; Caffe refuses such nets (\"both layer and layers specified\")")
        }
        guard net.layer.count + net.layers.count <= CaffeLimits.maxLayers else {
            throw FormatError(.limit, "the net has more than \(CaffeLimits.maxLayers) layers")
        }
        self.name = net.name
        if net.layers.isEmpty {
            generation = .current
            layers = net.layer.enumerated().map { CaffeLayer($1, index: $0, blobs: layerBlobs?[$0] ?? []) }
        } else {
            generation = .v1
            layers = try net.layers.enumerated().map {
                try CaffeLayer($1, index: $0, blobs: v1LayerBlobs?[$0] ?? [], rawType: v1TypeNumbers?[$0] ?? nil)
            }
        }
        // Net-level inputs: `input_shape` (one BlobShape per input) or `input_dim` (four per input).
        var inputs: [(String, [Int]?)] = []
        if !net.inputShape.isEmpty && net.inputShape.count != net.input.count {
            throw FormatError(.malformed, "the net lists \(net.input.count) inputs but \(net.inputShape.count) input_shape entries")
        }
        if !net.inputDim.isEmpty && net.inputDim.count != 4 * net.input.count {
            throw FormatError(.malformed, "the net lists \(net.input.count) inputs but \(net.inputDim.count) input_dim values (expected 4 per input: num, channels, height, width)")
        }
        for (i, name) in net.input.enumerated() {
            var dims: [Int]?
            if !net.inputShape.isEmpty {
                dims = try net.inputShape[i].dim.map { try CaffeNet.dimension($0, what: "input_shape of '\(oneLine(name))'") }
            } else if !net.inputDim.isEmpty {
                dims = try net.inputDim[(4 * i)..<(4 * i + 4)].map { try CaffeNet.dimension(Int64($0), what: "input_dim of '\(oneLine(name))'") }
            }
            inputs.append((name, dims))
        }
        self.inputs = inputs
    }

    /// A dimension stated in the file, checked to be in 0...Int32.max.
    static func dimension(_ value: Int64, what: String) throws -> Int {
        guard value >= 0, value <= Int64(Int32.max) else {
            throw FormatError(.malformed, location: what, "dimension \(value) is outside 0...\(Int32.max)")
        }
        return Int(value)
    }
}
