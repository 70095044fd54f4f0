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

/// Files a user named beside the model (`--prototxt`, `--mean`); readers that have no use for one ignore it.
public struct ReaderOptions: Sendable {
    /// A network definition in protobuf text format (Caffe `deploy.prototxt`), authoritative for structure.
    public var prototxt: String?
    /// A mean image (Caffe `BlobProto`, e.g. `imagenet_mean.binaryproto`) recorded in the preprocessing.
    public var mean: String?
    /// Record the mean image's per-channel average instead of the per-pixel mean.
    public var meanPerChannel: Bool

    public init(prototxt: String? = nil, mean: String? = nil, meanPerChannel: Bool = false) {
        self.prototxt = prototxt
        self.mean = mean
        self.meanPerChannel = meanPerChannel
    }

    /// The companion file paths given, for input protection and messages.
    public var files: [String] { [prototxt, mean].compactMap { $0 } }
}

/// Reads one file format into a `TensorBundle` (file names and layout; no AlexNet knowledge).
public protocol WeightFileReader {
    /// Format family shown to users (`npy`, `pth`, ...).
    static var formatName: String { get }
    /// True when the file's first bytes (up to 4 KiB) and path say it is this format.
    static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool
    /// True when `path` is not one readable file but names this format's input anyway: a directory
    /// (SavedModel, a folder with a `checkpoint` state file) or a prefix whose files exist
    /// (`model.ckpt-1000` → `.index` + `.data-*`). Asked only for directories and missing paths.
    static func claims(path: String, isDirectory: Bool) -> Bool
    /// Reads the file; tensors may view a memory map of it.
    static func read(path: String) throws -> TensorBundle
    /// Reads the file with the companion files the user named (default: `read(path:)`).
    static func read(path: String, options: ReaderOptions) throws -> TensorBundle
    /// Every file a read of `path` uses, `path` first: a checkpoint's index, data shards and state
    /// file; the companion files named in `options` or found beside it (a `deploy.prototxt`).
    /// Commands never write over any of them.
    static func inputFiles(path: String, options: ReaderOptions) -> [String]
}

extension WeightFileReader {
    public static func claims(path: String, isDirectory: Bool) -> Bool { false }
    public static func read(path: String, options: ReaderOptions) throws -> TensorBundle { try read(path: path) }
    public static func inputFiles(path: String, options: ReaderOptions) -> [String] { [path] + options.files }
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
    /// Every file writing `format` to `path` creates (`path` first): e.g. `X.caffemodel` and
    /// `X.prototxt`, or a checkpoint's `.index` and `.data-00000-of-00001`. All are protected and
    /// written atomically together (`writeAtomically(files:)`).
    static func outputFiles(for format: String, path: String) -> [String]
    /// The input channel order `format` is written with when the user does not choose one (nil: the model's own).
    static func defaultChannelOrder(for format: String) -> ChannelOrder?
    /// Writes `model` as `format` to `path`.
    static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws
}

extension ModelExporter {
    public static func namings(for format: String) -> [String] { [] }
    public static func loadingNotes(for model: Model, format: String) -> [String] { [] }
    public static func outputFiles(for format: String, path: String) -> [String] { [path] }
    public static func defaultChannelOrder(for format: String) -> ChannelOrder? { nil }

    /// `options.naming` lower-cased, when it is one of `namings(for: format)`; nil when none was asked
    /// for; a `UsageError` listing the accepted namings otherwise.
    public static func checkedNaming(_ options: ExportOptions, format: String) throws -> String? {
        guard let naming = options.naming?.lowercased() else { return nil }
        let accepted = namings(for: format)
        guard accepted.contains(naming) else {
            throw UsageError(
                accepted.isEmpty
                    ? "\(format) has one tensor naming; naming '\(naming)' cannot be chosen for it"
                    : "naming '\(naming)' is not available for \(format) (expected one of: \(accepted.joined(separator: ", ")))")
        }
        return naming
    }
}
