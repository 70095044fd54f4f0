import Foundation

/// Options every exporter takes. Towers and channel order are applied to the model before an
/// exporter sees it; exporters apply only their own format's layout rules.
public struct ExportOptions: Sendable {
    /// Naming scheme of the target (format specific: e.g. `torchvision`, `bvlc`, `canonical`); nil: the format's default for the model's preset.
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
    /// `--naming` values this exporter accepts for `format`, default first (empty: no choice of naming).
    static func namings(for format: String) -> [String]
    /// What loading the written file needs beyond the framework's plain loader (e.g. Keras' LRN layer).
    static func loadingNotes(for model: Model, format: String) -> [String]
    /// Writes `model` as `format` to `path`.
    static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws
}

extension ModelExporter {
    public static func namings(for format: String) -> [String] { [] }
    public static func loadingNotes(for model: Model, format: String) -> [String] { [] }
}
