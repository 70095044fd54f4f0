import AlexConvCore
import Foundation

// MARK: - EXPECTED.json

/// The verification cases a user's CI runs (contract.md, "verify: EXPECTED.json"). Relative paths
/// are resolved against the directory of the EXPECTED.json file.
public struct ExpectedFile: Sendable {
    /// One case: an image with the expected top-k labels, or an input tensor with the expected output.
    public struct Case: Codable, Sendable {
        /// Unique name, used in reports.
        public var name: String
        /// Model for this case (overrides the file's default; the command line's MODEL overrides both).
        public var model: String?
        /// Image (PNG, JPEG, PPM) preprocessed by the model's recorded input spec.
        public var image: String?
        /// Expected class indices, best first.
        public var top: [Int]?
        /// How many of `top` must match in order (default: all of them).
        public var topk: Int?
        /// Input `.npy`, (N, C, H, W) float or integer, fed straight to the first layer.
        public var input: String?
        /// Expected output `.npy`: the model's output shape, (N, classes) or (N, C, H, W).
        public var output: String?
        /// Compare logits (stop before a final softmax).
        public var logits: Bool?
        /// Per-case tolerance (default: the file's).
        public var tolerance: Tolerance?
    }

    /// The EXPECTED.json file (relative paths in it are resolved against its folder).
    public var path: String
    /// The default model of every case.
    public var model: String?
    /// The default tolerance of tensor cases.
    public var tolerance: Tolerance
    /// The cases, in file order.
    public var cases: [Case]

    private struct Document: Codable {
        var model: String?
        var tolerance: Tolerance?
        var cases: [Case]
    }

    /// Reads and checks `path`: every case is either an image case or a tensor case.
    public static func load(path: String) throws -> ExpectedFile {
        let data = try readSmallFile(path, what: "expectations file")
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as DecodingError {
            throw FormatError(.malformed, file: path, "invalid EXPECTED.json: \(describeDecoding(error))")
        }
        guard !document.cases.isEmpty else { throw FormatError(.malformed, file: path, "EXPECTED.json has no cases") }
        var names = Set<String>()
        for (i, c) in document.cases.enumerated() {
            let location = "case \(i + 1) '\(c.name)'"
            guard names.insert(c.name).inserted else { throw FormatError(.corrupted, file: path, location: location, "name used twice") }
            let isImage = c.image != nil
            let isTensor = c.input != nil || c.output != nil
            guard isImage != isTensor else {
                throw FormatError(.malformed, file: path, location: location, "needs either \"image\" with \"top\", or \"input\" with \"output\"")
            }
            if isImage {
                guard let top = c.top, !top.isEmpty else { throw FormatError(.malformed, file: path, location: location, "image case needs a non-empty \"top\" list of class indices") }
                if let k = c.topk, k < 1 || k > top.count {
                    throw FormatError(.malformed, file: path, location: location, "topk \(k) must be between 1 and the \(top.count) labels in \"top\"")
                }
            } else {
                guard c.input != nil, c.output != nil else { throw FormatError(.malformed, file: path, location: location, "tensor case needs both \"input\" and \"output\"") }
            }
        }
        return ExpectedFile(path: path, model: document.model, tolerance: document.tolerance ?? .standard, cases: document.cases)
    }

    /// Every file the expectations read (models, images, inputs, goldens), resolved; never written over.
    public var referencedFiles: [String] {
        let named = [model].compactMap { $0 } + cases.flatMap { [$0.model, $0.image, $0.input, $0.output].compactMap { $0 } }
        return named.map(resolve)
    }

    /// `relative` resolved against this file's directory (absolute paths unchanged).
    public func resolve(_ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? relative : (directory as NSString).appendingPathComponent(relative)
    }
}

func describeDecoding(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "" : " at \(p)"
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)'\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
    case .valueNotFound(let type, let context): return "missing \(type)\(path(context))"
    case .dataCorrupted(let context): return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
}
