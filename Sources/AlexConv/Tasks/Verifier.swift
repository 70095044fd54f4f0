import AlexConvCore
import AlexConvForward
import AlexConvImages
import AlexConvNumPy
import Foundation

// MARK: - Running EXPECTED.json

/// The outcome of one case.
public struct CaseResult: Codable, Sendable {
    /// Which kind of case this was.
    public enum Kind: String, Codable, Sendable {
        /// An image with expected top-k labels.
        case image
        /// An input tensor with an expected output tensor.
        case tensor
    }
    /// The case's name in EXPECTED.json.
    public var name: String
    /// Image or tensor case.
    public var kind: Kind
    /// The model the case ran (a path).
    public var model: String
    /// Whether the labels matched in order (image) or every element was within tolerance (tensor).
    public var passed: Bool
    /// Image cases: the expected class indices, best first (the first `topk` of `top`).
    public var expectedTop: [Int]?
    /// Image cases: the class indices seen, best first (at least 5 when the model has them).
    public var seenTop: [Int]?
    /// Image cases: the labels of `seenTop` (ImageNet names for 1000 classes, else `class <i>`).
    public var seenLabels: [String]?
    /// Image cases: the softmax probabilities of `seenTop`.
    public var seenScores: [Double]?
    /// Tensor cases: the comparison.
    public var comparison: TensorComparison?
    /// Wall time of the case, in seconds (model loading excluded).
    public var seconds: Double
    /// One line on what differed (or what matched).
    public var detail: String
}

/// All cases of one EXPECTED.json run.
public struct VerificationReport: Codable, Sendable {
    /// The EXPECTED.json that was run.
    public var expectations: String
    /// Its default tolerance.
    public var tolerance: Tolerance
    /// One result per case, in file order.
    public var cases: [CaseResult]
    /// Whether every case passed.
    public var passed: Bool { cases.allSatisfy(\.passed) }
    /// How many cases failed.
    public var failures: Int { cases.filter { !$0.passed }.count }
}

/// Runs the cases of an EXPECTED.json against models through alexconv's forward pass.
///
/// Problems with the expectations themselves (missing files, a golden whose shape differs from the
/// model's output, an input the model cannot take) throw, so the CLI exits 3; numeric mismatches
/// are failed cases (exit 1).
public struct Verifier {
    /// Loads a model from a path (the CLI passes `ModelLoader.load`, which imports any format).
    public typealias ModelLoading = (String) throws -> Model

    let loadModel: ModelLoading
    private var networks: [String: Network] = [:]

    /// A verifier that loads each model path with `loadModel` (once per path).
    public init(loadModel: @escaping ModelLoading) { self.loadModel = loadModel }

    /// Runs every case (tensor inputs (N, C, H, W), images preprocessed by each model's InputSpec); `model` overrides the models the file names.
    public mutating func run(_ expected: ExpectedFile, model override: String? = nil) throws -> VerificationReport {
        var results: [CaseResult] = []
        let progress = ProgressLine("verifying", total: expected.cases.count, unit: .items("cases"))
        defer { progress.finish() }
        for (i, c) in expected.cases.enumerated() {
            progress.update(completed: i)
            let location = "case \(i + 1) '\(c.name)'"
            let modelPath: String
            if let override {
                modelPath = override
            } else if let path = c.model ?? expected.model {
                modelPath = expected.resolve(path)
            } else {
                throw UsageError("\(expected.path): \(location) names no model; pass MODEL or add \"model\" to the file")
            }
            let network = try self.network(modelPath)
            let started = DispatchTime.now().uptimeNanoseconds
            var result = try wrap(expected.path, location) {
                if let image = c.image {
                    return try runImage(c, image: expected.resolve(image), network: network, model: modelPath)
                }
                return try runTensor(c, expected: expected, network: network, model: modelPath)
            }
            result.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            results.append(result)
        }
        return VerificationReport(expectations: expected.path, tolerance: expected.tolerance, cases: results)
    }

    private mutating func network(_ path: String) throws -> Network {
        if let cached = networks[path] { return cached }
        let network = try Network(model: try loadModel(path))
        networks[path] = network
        return network
    }

    /// Adds the expectations file and the case to errors from inside a case.
    private func wrap<T>(_ file: String, _ location: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ForwardError {
            throw FormatError(.malformed, file: file, location: location, error.detail)
        } catch var error as FormatError {
            if error.location == nil { error.location = location } else { error.location = "\(location): \(error.location!)" }
            throw error.inFile(file)
        }
    }

    private func runImage(_ c: ExpectedFile.Case, image: String, network: Network, model: String) throws -> CaseResult {
        let expectedTop = c.top ?? []
        let k = c.topk ?? expectedTop.count
        let classes = network.spec.classes ?? 0
        if let bad = expectedTop.first(where: { $0 < 0 || $0 >= classes }) {
            throw FormatError(.malformed, location: nil, "label \(bad) in \"top\" is outside the model's \(classes) classes")
        }
        let decoded = try ImageDecoder.decode(path: image)
        let x = try withFileContext(image) { try ImagePreprocessor.tensor(for: decoded, input: network.spec.input) }
        let logits = try network.run(x, logits: true).floats()
        let probabilities = softmax(logits)
        let seen = topK(logits, max(k, min(5, logits.count)))
        let passed = Array(seen.prefix(k)) == Array(expectedTop.prefix(k))
        let labels = seen.map { ImageNetClasses.label($0, classes: classes) }
        let seenText = zip(seen, labels).map { $0.1 == "class \($0.0)" ? "\($0.0)" : "\($0.0) \($0.1)" }.joined(separator: ", ")
        let detail =
            passed
            ? "top-\(k) labels match: \(seenText)"
            : "top-\(k) expected \(Array(expectedTop.prefix(k))), seen \(Array(seen.prefix(k))) (\(seenText))"
        return CaseResult(
            name: c.name, kind: .image, model: model, passed: passed, expectedTop: Array(expectedTop.prefix(k)),
            seenTop: seen, seenLabels: labels, seenScores: seen.map { Double(probabilities[$0]) },
            comparison: nil, seconds: 0, detail: detail)
    }

    private func runTensor(_ c: ExpectedFile.Case, expected: ExpectedFile, network: Network, model: String) throws -> CaseResult {
        let inputPath = expected.resolve(c.input!)
        let outputPath = expected.resolve(c.output!)
        let x = try NumPyReader.readArray(path: inputPath)
        guard x.dtype.isFloatingPoint || x.dtype == .uint8 || x.dtype == .int8 || x.dtype == .int16 || x.dtype == .int32 else {
            throw FormatError(.malformed, file: inputPath, "input dtype \(x.dtype.name) is not numeric")
        }
        let golden = try NumPyReader.readArray(path: outputPath)
        let y = try withFileContext(inputPath) { try network.run(x.contiguous(as: .float32), logits: c.logits ?? false) }
        guard y.shape == golden.shape else {
            throw FormatError(.malformed, file: outputPath, "expected output has shape \(golden.shape), the model produces \(y.shape)")
        }
        let comparison = TensorComparison.compare(y, golden, tolerance: c.tolerance ?? expected.tolerance)
        return CaseResult(
            name: c.name, kind: .tensor, model: model, passed: comparison.passed, expectedTop: nil, seenTop: nil,
            seenLabels: nil, seenScores: nil, comparison: comparison, seconds: 0, detail: comparison.summary)
    }

    private func softmax(_ x: [Float]) -> [Float] {
        let peak = x.max() ?? 0
        let e = x.map { expf($0 - peak) }
        let total = e.reduce(0, +)
        return e.map { $0 / total }
    }
}
