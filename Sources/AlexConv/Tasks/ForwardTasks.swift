import AlexConvImages
import AlexConvNumPy
import Foundation

// MARK: - run, predict, verify, diff behind the CLI

/// Verification or diff found differences beyond tolerance (exit 1).
public struct VerificationFailure: UserFacingError, Equatable {
    /// What differed, in one line.
    public var detail: String
    /// A failure saying `detail`.
    public init(_ detail: String) { self.detail = detail }
    /// 1: the models or the expectations disagree (as opposed to 3, unreadable input).
    public var exitCode: Int32 { ExitStatus.verificationFailed }
    /// The one-line message.
    public var description: String { detail }
}

/// Layout of the batches `run` reads and writes.
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

    /// Reads an already preprocessed float batch from a `.npy` file stored in `layout`; gives it as
    /// (N, C, H, W) in the file's float dtype (a view of the file), ready for `Network.run`.
    public static func readBatch(path: String, layout: BatchLayout = .nchw) throws -> Tensor {
        let x = try NumPyReader.readArray(path: path)
        guard x.dtype.isFloatingPoint else {
            throw FormatError(.malformed, file: path, "input dtype is \(x.dtype.name), expected float32 (an already preprocessed batch)")
        }
        guard layout == .nhwc else { return x }
        guard x.rank == 4 else {
            throw FormatError(.malformed, file: path, "input has shape \(x.shape), expected (N, H, W, C) for the nhwc layout")
        }
        return x.transposed([0, 3, 1, 2])
    }

    /// Runs `model` on the float batch in `input` (.npy, `layout`) and writes the output (.npy, float32):
    /// (N, classes), or a feature map in `layout`. Returns the output's shape.
    @discardableResult
    /// The output obeys `OutputRule`: never one of the inputs, an existing file only with `overwrite`.
    public static func run(
        model path: String, input: String, output: String, layout: BatchLayout = .nchw,
        logits: Bool = false, arch: String? = nil, map: String? = nil, overwrite: Bool = false,
        options: ReaderOptions = ReaderOptions()
    ) throws -> [Int] {
        try OutputRule.check(output, inputs: [path, input] + [arch, map].compactMap { $0 } + options.files, overwrite: overwrite)
        let network = try Network(model: try ModelLoader.load(path: path, arch: arch, map: map, options: options))
        let x = try readBatch(path: input, layout: layout)
        var y = try withFileContext(input) {
            do { return try network.run(x, logits: logits) } catch let error as ForwardError {
                throw FormatError(.malformed, file: input, error.detail + (layout == .nhwc ? " after reading it as NHWC" : ""))
            }
        }
        if layout == .nhwc && y.rank == 4 { y = y.transposed([0, 2, 3, 1]).contiguous() }
        try NumPyExporter.writeArray(y, to: output, overwrite: overwrite)
        return y.shape
    }

    // MARK: predict

    /// One image's top-k classes.
    public struct Prediction: Codable, Sendable {
        /// One class of the top k.
        public struct Entry: Codable, Sendable {
            /// Class index, from 0.
            public var index: Int
            /// ImageNet name for 1000-class models, else `class <index>`.
            public var label: String
            /// Softmax probability, 0...1.
            public var probability: Double
        }
        /// The image file.
        public var image: String
        /// The best classes, most probable first.
        public var top: [Entry]
    }

    /// Decodes each image to RGB, preprocesses it to (1, C, H, W) by the model's recorded InputSpec, and gives its top `k` classes.
    public static func predict(
        model path: String, images: [String], top k: Int = 5,
        arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()
    ) throws -> [Prediction] {
        let network = try Network(model: try ModelLoader.load(path: path, arch: arch, map: map, options: options))
        let decoded = try images.map { try ImageDecoder.decode(path: $0) }
        // Preprocessed one by one first, so an error names the image's file (not "image 3").
        for (path, image) in zip(images, decoded) {
            _ = try withFileContext(path) { try ImagePreprocessor.tensor(for: image, input: network.spec.input) }
        }
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
            ([p.image]
                + p.top.enumerated().map { i, e in
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

    /// Runs the cases of EXPECTED.json (tensor inputs (N, C, H, W), goldens in the model's output shape); `model` overrides the models the file names.
    public static func verify(
        model: String?, expect: String, arch: String? = nil, map: String? = nil,
        options: ReaderOptions = ReaderOptions()
    ) throws -> VerificationReport {
        let expected = try ExpectedFile.load(path: expect)
        var verifier = Verifier { try ModelLoader.load(path: $0, arch: arch, map: map, options: options) }
        return try verifier.run(expected, model: model)
    }

    // MARK: diff

    /// Compares two models (each imported on the fly) tensor by tensor and, with `input` (.npy,
    /// NCHW float batch), layer by layer.
    public static func diff(
        _ a: String, _ b: String, input: String? = nil, tolerance: Tolerance = .standard,
        arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()
    ) throws -> ModelDiff {
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
            notes.append(
                "B takes \(modelB.spec.input.channelOrder == .rgb ? "BGR" : "RGB") input: its conv1 input channels were swapped to compare with A's \(modelA.spec.input.channelOrder.rawValue.uppercased())"
            )
        }
        let x = try input.map { path -> Tensor in
            let t = try NumPyReader.readArray(path: path)
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
