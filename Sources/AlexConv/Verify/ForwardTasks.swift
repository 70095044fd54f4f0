@_exported import AlexConvForward
import Foundation

// MARK: - run, predict, verify, diff behind the CLI

/// Verification or diff found differences beyond tolerance (exit 1).
public struct VerificationFailure: UserFacingError, Equatable {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var exitCode: Int32 { ExitStatus.verificationFailed }
    public var description: String { detail }
}

/// Layout of the tensors `run` reads and writes.
public enum BatchLayout: String, Sendable, CaseIterable {
    /// (N, C, H, W), PyTorch/Caffe/ONNX.
    case nchw
    /// (N, H, W, C), TensorFlow/Keras.
    case nhwc
}

/// The tasks behind `alexconv run`, `predict`, `verify` and `diff`; models are imported on the fly
/// through `ModelLoader.load`.
public enum ForwardTasks {
    // MARK: run

    /// Runs `model` on the float batch in `input` (.npy, `layout`) and writes the output (.npy, float32):
    /// (N, classes), or a feature map in `layout`. Returns the output's shape.
    @discardableResult
    public static func run(model path: String, input: String, output: String, layout: BatchLayout = .nchw,
                           logits: Bool = false, arch: String? = nil, map: String? = nil,
                           options: ReaderOptions = ReaderOptions()) throws -> [Int] {
        let network = try Network(model: try ModelLoader.load(path: path, arch: arch, map: map, options: options))
        var x = try NPYFile.read(path: input)
        guard x.dtype.isFloatingPoint else {
            throw FormatError(.malformed, file: input, "input dtype is \(x.dtype.name), expected float32 (an already preprocessed batch)")
        }
        if layout == .nhwc {
            guard x.rank == 4 else {
                throw FormatError(.malformed, file: input, "input has shape \(x.shape), expected (N, H, W, C) for --layout nhwc")
            }
            x = x.transposed([0, 3, 1, 2])
        }
        var y = try withFileContext(input) {
            do { return try network.run(x.contiguous(as: .float32), logits: logits) } catch let error as ForwardError {
                throw FormatError(.malformed, file: input, error.detail + (layout == .nhwc ? " after reading it as NHWC" : ""))
            }
        }
        if layout == .nhwc && y.rank == 4 { y = y.transposed([0, 2, 3, 1]).contiguous() }
        try NPYFile.write(y, to: output)
        return y.shape
    }

    // MARK: predict

    /// One image's top-k classes.
    public struct Prediction: Codable, Sendable {
        public struct Entry: Codable, Sendable {
            public var index: Int
            public var label: String
            public var probability: Double
        }
        public var image: String
        public var top: [Entry]
    }

    /// Decodes, preprocesses (the model's recorded InputSpec) and classifies each image.
    public static func predict(model path: String, images: [String], top k: Int = 5,
                               arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()) throws -> [Prediction] {
        let network = try Network(model: try ModelLoader.load(path: path, arch: arch, map: map, options: options))
        let decoded = try images.map { try ImageDecoder.decode(path: $0) }
        let x = try ImagePreprocessor.batch(decoded, input: network.spec.input)
        let y = try network.run(x, logits: true)
        let classes = y.shape.last ?? 0
        let values = y.floats()
        return images.enumerated().map { n, image in
            let logits = Array(values[(n * classes)..<((n + 1) * classes)])
            let peak = logits.max() ?? 0
            let exps = logits.map { Double(expf($0 - peak)) }
            let total = exps.reduce(0, +)
            let entries = topK(logits, min(k, classes)).map {
                Prediction.Entry(index: $0, label: ImageNetClasses.label($0, classes: classes), probability: exps[$0] / total)
            }
            return Prediction(image: image, top: entries)
        }
    }

    /// Text: the image, then one line per class ("  1. 285 Egyptian cat  41.23%").
    public static func text(_ predictions: [Prediction]) -> String {
        predictions.map { p in
            ([p.image] + p.top.enumerated().map { i, e in
                String(format: "  %d. %4d %@  %.2f%%", i + 1, e.index, e.label as NSString, e.probability * 100)
            }).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// JSON array of predictions, sorted keys.
    public static func json(_ predictions: [Prediction]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(predictions)) ?? Data("[]".utf8), as: UTF8.self)
    }

    // MARK: verify

    /// Runs EXPECTED.json; `model` (optional) overrides the models the file names.
    public static func verify(model: String?, expect: String, arch: String? = nil, map: String? = nil,
                              options: ReaderOptions = ReaderOptions()) throws -> VerificationReport {
        let expected = try ExpectedFile.load(path: expect)
        var verifier = Verifier { try ModelLoader.load(path: $0, arch: arch, map: map, options: options) }
        return try verifier.run(expected, model: model)
    }

    // MARK: diff

    /// Compares two models (each imported on the fly) tensor by tensor and, with `input` (.npy,
    /// NCHW float batch), layer by layer.
    public static func diff(_ a: String, _ b: String, input: String? = nil, tolerance: Tolerance = .standard,
                            arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()) throws -> ModelDiff {
        var modelA = try ModelLoader.load(path: a, arch: arch, map: map, options: options)
        var modelB = try ModelLoader.load(path: b, arch: arch, map: map, options: options)
        // Canonicalise conventions that change tensors but not what the model computes.
        var notes: [String] = []
        if modelA.towersPerConv != modelB.towersPerConv {
            notes.append("towers differ (A \(modelA.towersPerConv), B \(modelB.towersPerConv)): both compared as one tower (block-diagonal)")
            modelA = modelA.expandingTowers()
            modelB = modelB.expandingTowers()
        }
        if modelA.spec.input.channelOrder != modelB.spec.input.channelOrder {
            modelB = try modelB.withChannelOrder(modelA.spec.input.channelOrder)
            notes.append("B takes \(modelB.spec.input.channelOrder == .rgb ? "BGR" : "RGB") input: its conv1 input channels were swapped to compare with A's \(modelA.spec.input.channelOrder.rawValue.uppercased())")
        }
        let x = try input.map { path -> Tensor in
            let t = try NPYFile.read(path: path)
            guard t.dtype.isFloatingPoint || t.dtype == .uint8 else { throw FormatError(.malformed, file: path, "input dtype \(t.dtype.name) is not a float type") }
            return t.contiguous(as: .float32)
        }
        do {
            var result = try ModelDiff.compare(modelA, modelB, input: x, tolerance: tolerance)
            result.notes = notes
            return result
        } catch let error as ForwardError {
            throw FormatError(.malformed, file: input, error.detail)
        }
    }
}
