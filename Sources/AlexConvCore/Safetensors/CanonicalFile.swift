import Foundation

/// The canonical model file: safetensors with `alexconv.spec` and `alexconv.source` metadata.
public enum CanonicalFile {
    public static let specKey = "alexconv.spec"
    public static let sourceKey = "alexconv.source"
    public static let versionKey = "alexconv.format_version"
    /// Default file name suffix: `<stem>.alexnet.safetensors`.
    public static let suffix = ".alexnet.safetensors"

    /// Writes `model` as a canonical file (float32 unless `dtype` says otherwise), atomically.
    public static func write(_ model: Model, to path: String, dtype: DType? = .float32, overwrite: Bool = true) throws {
        try model.validate()
        try Safetensors.write(
            model.tensors,
            metadata: [
                specKey: model.spec.json(),
                sourceKey: model.source,
                versionKey: "1",
            ], dtype: dtype, to: path, overwrite: overwrite)
    }

    /// True when a bundle is a canonical file: alexconv's spec and format version in its metadata.
    /// (Exports in other namings carry the spec too, without the version key.)
    public static func isCanonical(_ bundle: TensorBundle) -> Bool {
        bundle.metadata[specKey] != nil && bundle.metadata[versionKey] != nil
    }

    /// Reads a canonical file into a model (tensors view the memory map).
    public static func read(path: String) throws -> Model {
        let bundle = try Safetensors.read(path: path)
        return try model(from: bundle)
    }

    /// The model held by a canonical safetensors bundle.
    public static func model(from bundle: TensorBundle) throws -> Model {
        guard let specText = bundle.metadata[specKey] else {
            throw FormatError(.malformed, file: bundle.path, "safetensors file has no '\(specKey)' metadata: not an alexconv canonical file")
        }
        let spec = try ArchitectureSpec.parse(json: specText, source: "\(bundle.path) metadata \(specKey)")
        let tensors = try withFileContext(bundle.path) { try TensorMatcher.match(bundle.tensors, to: spec) }
        return Model(spec: spec, tensors: tensors, source: bundle.metadata[sourceKey] ?? bundle.path)
    }
}
