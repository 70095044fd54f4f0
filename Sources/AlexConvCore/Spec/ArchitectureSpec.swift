import Foundation

/// Input channel order the first convolution expects.
public enum ChannelOrder: String, Codable, Sendable, CaseIterable {
    case rgb, bgr
    public var swapped: ChannelOrder { self == .rgb ? .bgr : .rgb }
}

/// A per-pixel mean (Caffe's `imagenet_mean.binaryproto`): (channels, height, width) values in the
/// model's channel order and in scaled units, usually larger than the crop. Preprocessing subtracts
/// its centre `height` x `width` window (offsets `(H - height) / 2`, `(W - width) / 2` rounded down, as
/// Caffe's test-phase transform crops it). JSON: `{"channels", "height", "width", "float32"}`, the
/// values as base64 of little-endian float32, row-major (C, H, W): exact, and a quarter of decimal text.
public struct MeanImage: Codable, Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Row-major (channels, height, width).
    public var values: [Float]

    public init(channels: Int, height: Int, width: Int, values: [Float]) {
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values
    }

    /// The average of each channel plane (what formats that take per-channel means record).
    public var channelAverages: [Double] {
        let plane = height * width
        return (0..<channels).map { c in
            guard plane > 0 else { return 0 }
            var sum = 0.0
            for i in (c * plane)..<((c + 1) * plane) { sum += Double(values[i]) }
            return sum / Double(plane)
        }
    }

    /// The same image with its channel planes in reverse order (BGR <-> RGB).
    public func reversedChannels() -> MeanImage {
        let plane = height * width
        var copy = self
        for c in 0..<channels {
            let source = (channels - 1 - c) * plane
            copy.values.replaceSubrange((c * plane)..<((c + 1) * plane), with: values[source..<(source + plane)])
        }
        return copy
    }

    /// Value at channel `c`, row `y`, column `x` of the centre `height` x `width` window.
    @inlinable
    public func centred(channel c: Int, y: Int, x: Int, cropHeight: Int, cropWidth: Int) -> Float {
        values[(c * height + (height - cropHeight) / 2 + y) * width + (width - cropWidth) / 2 + x]
    }

    private enum Keys: String, CodingKey { case channels, height, width, float32 }

    public init(from decoder: Decoder) throws {
        let keyed = try decoder.container(keyedBy: Keys.self)
        channels = try keyed.decode(Int.self, forKey: .channels)
        height = try keyed.decode(Int.self, forKey: .height)
        width = try keyed.decode(Int.self, forKey: .width)
        let text = try keyed.decode(String.self, forKey: .float32)
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else {
            throw DecodingError.dataCorruptedError(forKey: .float32, in: keyed, debugDescription: "mean image values are not base64 of float32 values")
        }
        values = data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    public func encode(to encoder: Encoder) throws {
        var keyed = encoder.container(keyedBy: Keys.self)
        try keyed.encode(channels, forKey: .channels)
        try keyed.encode(height, forKey: .height)
        try keyed.encode(width, forKey: .width)
        let bytes = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        try keyed.encode(bytes.base64EncodedString(), forKey: .float32)
    }
}

/// How an image reaches the `resize` size before the centre crop: the two conventions that move
/// published ImageNet accuracies (about a point of top-5 between them).
public enum ResizeMode: String, Codable, Sendable, CaseIterable {
    /// torchvision's `Resize(256)`: the shorter side to `resize`, the aspect ratio kept (the longer
    /// side truncated to an integer).
    case shorterSide = "shorter-side"
    /// Caffe's: both sides to `resize` x `resize` (anisotropic, as `convert_imageset --resize_height
    /// 256 --resize_width 256` and `caffe.io.resize_image` do), then the centre crop.
    case warp
}

/// The preprocessing a model was trained with: from 0-255 pixels, `(pixel * scale - mean) / std`
/// per channel, channels in `channelOrder`, after resizing to `resize` by `resizeMode` (the shorter
/// side, or both sides) and centre-cropping `height` x `width`. With a `meanImage`, its centre crop
/// is subtracted per pixel instead of `mean` (which then holds the image's per-channel averages).
public struct InputSpec: Codable, Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var channels: Int
    public var channelOrder: ChannelOrder
    /// Multiplier applied to 0-255 pixel values before the mean (1 for Caffe, 1/255 for torchvision).
    public var scale: Double
    /// Per-channel mean in the model's channel order, in scaled units.
    public var mean: [Double]
    /// Per-channel standard deviation in the model's channel order, in scaled units.
    public var std: [Double]
    /// Shorter side after resizing, before the centre crop (nil: resize straight to height x width).
    public var resize: Int?
    /// Per-pixel mean subtracted instead of `mean` (Caffe mean files); nil for per-channel means.
    public var meanImage: MeanImage?
    /// How `resize` applies; nil (specs written before this field existed) means `.shorterSide`.
    public var resizeMode: ResizeMode?

    /// The resize convention in force: `resizeMode`, or the shorter side when none is recorded.
    public var effectiveResizeMode: ResizeMode { resizeMode ?? .shorterSide }

    public init(
        height: Int, width: Int, channels: Int = 3, channelOrder: ChannelOrder, scale: Double,
        mean: [Double], std: [Double], resize: Int? = nil, meanImage: MeanImage? = nil,
        resizeMode: ResizeMode? = nil
    ) {
        self.height = height
        self.width = width
        self.channels = channels
        self.channelOrder = channelOrder
        self.scale = scale
        self.mean = mean
        self.std = std
        self.resize = resize
        self.meanImage = meanImage
        self.resizeMode = resizeMode
    }
}

/// A convolution. Weights `convK.weight` (out, in/groups, kh, kw), bias `convK.bias` (out).
public struct ConvSpec: Codable, Equatable, Sendable {
    /// Canonical layer name (`conv1`, ...), the prefix of its tensors.
    public var name: String
    public var outChannels: Int
    /// Kernel [height, width].
    public var kernel: [Int]
    /// Stride [height, width].
    public var stride: [Int]
    /// Padding [top, left, bottom, right] (ONNX order).
    public var padding: [Int]
    public var groups: Int
    public var bias: Bool

    public init(
        name: String, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        groups: Int = 1, bias: Bool = true
    ) {
        self.init(
            name: name, outChannels: outChannels, kernel: [kernel, kernel], stride: [stride, stride],
            padding: [padding, padding, padding, padding], groups: groups, bias: bias)
    }

    public init(name: String, outChannels: Int, kernel: [Int], stride: [Int], padding: [Int], groups: Int, bias: Bool) {
        self.name = name
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.bias = bias
    }
}

/// Local response normalisation across channels, Caffe/PyTorch/ONNX meaning:
/// `y = x / (k + alpha/size * sum over `size` channels centred on c of x^2)^beta`.
public struct LRNSpec: Codable, Equatable, Sendable {
    public var size: Int
    public var alpha: Double
    public var beta: Double
    public var k: Double
    public init(size: Int = 5, alpha: Double = 1e-4, beta: Double = 0.75, k: Double = 1) {
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
    }

    /// The TensorFlow spelling (`depth_radius`, `bias`, `alpha` not divided by the window), converted.
    public init(tensorflowDepthRadius radius: Int, bias: Double, alpha: Double, beta: Double) {
        self.init(size: 2 * radius + 1, alpha: alpha * Double(2 * radius + 1), beta: beta, k: bias)
    }

    /// TensorFlow's `depth_radius` and per-element alpha for this LRN (exact only for odd sizes).
    public var tensorflowSpelling: (depthRadius: Int, alpha: Double) {
        ((size - 1) / 2, alpha / Double(size))
    }
}

/// Batch normalisation at inference. Tensors `bnK.weight`, `bnK.bias`, `bnK.running_mean`, `bnK.running_var` (C).
public struct BatchNormSpec: Codable, Equatable, Sendable {
    public var name: String
    public var epsilon: Double
    public init(name: String, epsilon: Double) {
        self.name = name
        self.epsilon = epsilon
    }
}

/// Max or average pooling.
public struct PoolSpec: Codable, Equatable, Sendable {
    public var kernel: [Int]
    public var stride: [Int]
    /// Padding [top, left, bottom, right].
    public var padding: [Int]
    /// Output size rounds up (Caffe) rather than down (PyTorch/TF default).
    public var ceilMode: Bool
    /// Average pooling only: padded cells count in the divisor (PyTorch default true, Keras false).
    public var countIncludePad: Bool

    public init(kernel: Int = 3, stride: Int = 2, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.init(
            kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding, padding, padding],
            ceilMode: ceilMode, countIncludePad: countIncludePad)
    }

    public init(kernel: [Int], stride: [Int], padding: [Int], ceilMode: Bool, countIncludePad: Bool) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// A fully connected layer. Weight `fcK.weight` (out, in), bias `fcK.bias` (out).
public struct DenseSpec: Codable, Equatable, Sendable {
    public var name: String
    public var outFeatures: Int
    public var bias: Bool
    public init(name: String, outFeatures: Int, bias: Bool = true) {
        self.name = name
        self.outFeatures = outFeatures
        self.bias = bias
    }
}

/// One layer of the chain. JSON: `{"type": "conv", ...fields}`.
public enum LayerSpec: Equatable, Sendable {
    case conv(ConvSpec)
    case relu
    case lrn(LRNSpec)
    case batchNorm(BatchNormSpec)
    case maxPool(PoolSpec)
    case avgPool(PoolSpec)
    /// Adaptive average pooling to [height, width] (PyTorch semantics).
    case adaptiveAvgPool([Int])
    /// Flattens (C, H, W) to C*H*W in channels-first order.
    case flatten
    case dense(DenseSpec)
    /// Identity at inference; the rate is kept for exporters.
    case dropout(Double)
    case softmax

    /// The `type` string of the JSON form.
    public var typeName: String {
        switch self {
        case .conv: return "conv"
        case .relu: return "relu"
        case .lrn: return "lrn"
        case .batchNorm: return "batchnorm"
        case .maxPool: return "maxpool"
        case .avgPool: return "avgpool"
        case .adaptiveAvgPool: return "adaptiveavgpool"
        case .flatten: return "flatten"
        case .dense: return "dense"
        case .dropout: return "dropout"
        case .softmax: return "softmax"
        }
    }
}

extension LayerSpec: Codable {
    private enum Keys: String, CodingKey { case type, rate, outputSize }

    public init(from decoder: Decoder) throws {
        let keyed = try decoder.container(keyedBy: Keys.self)
        let type = try keyed.decode(String.self, forKey: .type)
        switch type.lowercased() {
        case "conv": self = .conv(try ConvSpec(from: decoder))
        case "relu": self = .relu
        case "lrn": self = .lrn(try LRNSpec(from: decoder))
        case "batchnorm": self = .batchNorm(try BatchNormSpec(from: decoder))
        case "maxpool": self = .maxPool(try PoolSpec(from: decoder))
        case "avgpool": self = .avgPool(try PoolSpec(from: decoder))
        case "adaptiveavgpool": self = .adaptiveAvgPool(try keyed.decode([Int].self, forKey: .outputSize))
        case "flatten": self = .flatten
        case "dense": self = .dense(try DenseSpec(from: decoder))
        case "dropout": self = .dropout(try keyed.decodeIfPresent(Double.self, forKey: .rate) ?? 0.5)
        case "softmax": self = .softmax
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: keyed,
                debugDescription: "unknown layer type '\(type)' (expected conv, relu, lrn, batchnorm, maxpool, avgpool, adaptiveavgpool, flatten, dense, dropout, softmax)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var keyed = encoder.container(keyedBy: Keys.self)
        try keyed.encode(typeName, forKey: .type)
        switch self {
        case .conv(let s): try s.encode(to: encoder)
        case .lrn(let s): try s.encode(to: encoder)
        case .batchNorm(let s): try s.encode(to: encoder)
        case .maxPool(let s), .avgPool(let s): try s.encode(to: encoder)
        case .adaptiveAvgPool(let size): try keyed.encode(size, forKey: .outputSize)
        case .dense(let s): try s.encode(to: encoder)
        case .dropout(let rate): try keyed.encode(rate, forKey: .rate)
        case .relu, .flatten, .softmax: break
        }
    }
}

/// The architecture of a model as data: input conventions and the layer chain.
/// Tensors of the canonical model are named after the conv, batchnorm and dense layers here.
public struct ArchitectureSpec: Codable, Equatable, Sendable {
    /// Preset name, or `custom`.
    public var name: String
    public var input: InputSpec
    public var layers: [LayerSpec]

    public init(name: String, input: InputSpec, layers: [LayerSpec]) {
        self.name = name
        self.input = input
        self.layers = layers
    }

    /// Number of output classes: the last dense layer's width.
    public var classes: Int? {
        for layer in layers.reversed() { if case .dense(let d) = layer { return d.outFeatures } }
        return nil
    }

    public var convs: [ConvSpec] { layers.compactMap { if case .conv(let c) = $0 { return c } else { return nil } } }
    public var denses: [DenseSpec] { layers.compactMap { if case .dense(let d) = $0 { return d } else { return nil } } }
    public var batchNorms: [BatchNormSpec] { layers.compactMap { if case .batchNorm(let b) = $0 { return b } else { return nil } } }

    /// True when the chain ends in softmax (the model outputs probabilities).
    public var endsInSoftmax: Bool {
        for layer in layers.reversed() {
            switch layer {
            case .softmax: return true
            case .dropout: continue
            default: return false
            }
        }
        return false
    }

    /// JSON text of the spec (sorted keys, pretty when asked).
    public func json(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    /// Parses a spec from JSON text; errors say which field was wrong.
    public static func parse(json: String, source: String = "spec") throws -> ArchitectureSpec {
        do {
            let spec = try JSONDecoder().decode(ArchitectureSpec.self, from: Data(json.utf8))
            try spec.validate()
            return spec
        } catch let error as DecodingError {
            throw FormatError(.malformed, file: source, "invalid architecture spec: \(describe(error))")
        }
    }

    /// Loads a spec file.
    public static func load(path: String) throws -> ArchitectureSpec {
        let data = try readSmallFile(path, what: "architecture spec")
        return try parse(json: String(decoding: data, as: UTF8.self), source: path)
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)'\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context)): \(context.debugDescription)"
    case .valueNotFound(let type, let context): return "missing \(type)\(path(context))"
    case .dataCorrupted(let context): return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
}
