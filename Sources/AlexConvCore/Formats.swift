import Foundation

/// Options every exporter takes. Towers and channel order are applied to the model before an
/// exporter sees it; exporters apply only their own format's layout rules.
public struct ExportOptions: Sendable {
    /// Tensor naming of the target (one of the exporter's `namings(for:)`); nil: the format's default for the model's preset.
    public var naming: String?
    /// Element type written (nil: float32).
    public var dtype: DType?
    /// Replace an existing output file.
    public var overwrite: Bool

    public init(naming: String? = nil, dtype: DType? = nil, overwrite: Bool = true) {
        self.naming = naming
        self.dtype = dtype
        self.overwrite = overwrite
    }
}

/// Reads one file format into a `TensorBundle` (file names and layout; no AlexNet knowledge).
public protocol WeightFileReader {
    /// Format family shown to users (`npy`, `pth`, ...).
    static var formatName: String { get }
    /// True when the file's first bytes (up to 4 KiB) and path say it is this format.
    static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool
    /// Reads the file; tensors may view a memory map of it.
    static func read(path: String) throws -> TensorBundle
}

/// Writes a canonical `Model` as one or more formats, atomically.
public protocol ModelExporter {
    /// `--format` names this exporter writes (`npy`, `npz`, `h5`, `weights.h5`, ...).
    static var formats: [String] { get }
    /// File extension including the dot for `format` (e.g. `.npy`, `.weights.h5`).
    static func fileExtension(for format: String) -> String
    /// Tensor namings this exporter accepts for `format` (empty: the format has one naming).
    static func namings(for format: String) -> [String]
    /// What loading the written file needs beyond the framework's plain loader (e.g. Keras' LRN layer).
    static func loadingNotes(for model: Model, format: String) -> [String]
    /// Writes `model` as `format` to `path`.
    static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws
}

extension ModelExporter {
    public static func namings(for format: String) -> [String] { [] }
    public static func loadingNotes(for model: Model, format: String) -> [String] { [] }

    /// `options.naming` lower-cased, when it is one of `namings(for: format)`; nil when none was asked
    /// for; a `UsageError` listing the accepted namings otherwise.
    public static func checkedNaming(_ options: ExportOptions, format: String) throws -> String? {
        guard let naming = options.naming?.lowercased() else { return nil }
        let accepted = namings(for: format)
        guard accepted.contains(naming) else {
            throw UsageError(accepted.isEmpty
                ? "\(format) has one tensor naming; naming '\(naming)' cannot be chosen for it"
                : "naming '\(naming)' is not available for \(format) (expected one of: \(accepted.joined(separator: ", ")))")
        }
        return naming
    }
}
