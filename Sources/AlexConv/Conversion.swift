import Foundation

/// How many towers the grouped convolutions of the written model have.
public enum Towers: Int, Sendable, CaseIterable {
    /// One tower: grouped convolutions expanded to dense block-diagonal ones (exact).
    case one = 1
    /// AlexNet's two towers (groups 2 on conv2, conv4, conv5): only when the off-diagonal blocks are zero.
    case two = 2
}

/// How to write a model: format, path, towers, input channel order, naming, element type.
public struct ExportRequest: Sendable {
    /// Format name, one of `FormatRegistry.exportFormats` (`--format`); nil: from the output path's extension.
    public var format: String?
    /// Output path; nil: the input's stem with the format's extension, in the current directory.
    public var output: String?
    /// Towers of the written convolutions (`--towers`); nil: as the model has them.
    public var towers: Towers?
    /// Input channel order the written model takes (`--channels`; conv1's input channels reordered); nil: the format's usual order, else the model's.
    public var channels: ChannelOrder?
    /// Tensor naming of the target format (`FormatRegistry.namings(for:)`); nil: the format's default.
    public var naming: String?
    /// Element type to write (nil: float32).
    public var dtype: DType?
    /// Overwrite an existing output (`--force`); the input is never overwritten.
    public var force: Bool
    /// Further files the command read (companion files such as `--prototxt`); never written over.
    public var protectedInputs: [String] = []

    /// A request; every field left nil takes the default described on it.
    public init(
        format: String? = nil, output: String? = nil, towers: Towers? = nil, channels: ChannelOrder? = nil,
        naming: String? = nil, dtype: DType? = nil, force: Bool = false
    ) {
        self.format = format
        self.output = output
        self.towers = towers
        self.channels = channels
        self.naming = naming
        self.dtype = dtype
        self.force = force
    }
}

/// Transforming and writing canonical models: the steps `export` and `convert` share.
public enum Conversion {
    /// The file name without directory and without its format's extension: the longest of the
    /// exporters' file extensions it ends with (`.alexnet.safetensors`, `.weights.h5`), else its last extension.
    package static func stem(of path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        if let suffix = FormatRegistry.fileExtensions.filter({ name.lowercased().hasSuffix($0) && $0.count < name.count }).max(by: { $0.count < $1.count }),
            suffix.dropFirst().contains(".")
        {
            name.removeLast(suffix.count)
            return name
        }
        if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        return name
    }

    /// Default canonical output for an imported file: `<stem>.alexnet.safetensors` in the current directory.
    package static func defaultImportOutput(for input: String) -> String {
        stem(of: input) + CanonicalFile.suffix
    }

    /// `model` with its grouped convolutions expanded to one tower or collapsed to two, and conv1's
    /// input channels reordered for `channels`; canonical layout in and out, nil leaves that part as it is.
    public static func transform(_ model: Model, towers: Towers? = nil, channels: ChannelOrder? = nil) throws -> Model {
        var model = model
        switch towers {
        case nil: break
        case .one: model = model.expandingTowers()
        case .two: model = try model.collapsingToTwoTowers()
        }
        if let channels { model = try model.withChannelOrder(channels) }
        return model
    }

    /// Refuses to write over an input file or, without `force`, over any existing file (`OutputRule`).
    package static func checkOutput(_ output: String, inputs: [String], force: Bool) throws {
        try OutputRule.check(output, inputs: inputs, overwrite: force)
    }

    /// Writes the canonical `model` in the requested format, applying that format's layout rules
    /// (e.g. Keras and npy: conv (kh, kw, in, out), dense (in, out), fc6 rows in (H, W, C) order), atomically.
    /// `inputPath`, the file the model was loaded from, names the default output and is never written over.
    /// Returns the path written (the first of the exporter's files), the format, and what loading it needs.
    @discardableResult
    public static func export(_ model: Model, inputPath: String, request: ExportRequest) throws -> (path: String, format: String, notes: [String]) {
        let format: String
        if let given = request.format {
            format = given.lowercased()
        } else if let output = request.output, let guessed = FormatRegistry.format(forOutputPath: output) {
            format = guessed
        } else {
            throw UsageError("no --format given and the output name does not say one (formats: \(FormatRegistry.exportFormats.joined(separator: ", ")))")
        }
        let exporter = try FormatRegistry.exporter(for: format)
        let options = ExportOptions(naming: request.naming, dtype: request.dtype, overwrite: request.force)
        _ = try exporter.checkedNaming(options, format: format)
        let output = request.output ?? stem(of: inputPath) + exporter.fileExtension(for: format)
        for file in exporter.outputFiles(for: format, path: output) {
            try checkOutput(file, inputs: FormatRegistry.inputFiles(of: inputPath) + request.protectedInputs, force: request.force)
        }
        let channels = request.channels ?? exporter.defaultChannelOrder(for: format)
        let transformed = try transform(model, towers: request.towers, channels: channels)
        try transformed.validate()
        try exporter.export(transformed, format: format, to: output, options: options)
        // What loading the written file needs beyond the framework's plain loader (e.g. Keras LRN).
        return (output, format, exporter.loadingNotes(for: transformed, format: format))
    }

    /// The canonical model `alexconv import` last wrote in `directory`: the newest `*.alexnet.safetensors`.
    package static func lastImported(in directory: String = FileManager.default.currentDirectoryPath) throws -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let candidates = names.filter { $0.hasSuffix(CanonicalFile.suffix) }.map { name -> (String, Date) in
            let path = directory + "/" + name
            let date = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            return (name, date)
        }
        guard let newest = candidates.max(by: { $0.1 < $1.1 }) else {
            throw UsageError("no MODEL given and no *\(CanonicalFile.suffix) in the current directory: run `alexconv import FILE` first or name the model")
        }
        return newest.0
    }
}
