import Foundation

/// How many towers the grouped convolutions of the written model have.
public enum Towers: Int, Sendable, CaseIterable {
    /// One tower: grouped convolutions expanded to dense block-diagonal ones (exact).
    case one = 1
    /// AlexNet's two towers (groups 2 on conv2, conv4, conv5): only when the off-diagonal blocks are zero.
    case two = 2
}

/// What `export` and `convert` were asked to do.
public struct ExportRequest: Sendable {
    /// `--format` name; nil: from the output path's extension.
    public var format: String?
    /// Output path; nil: the model's stem with the format's extension, beside the current directory.
    public var output: String?
    /// `--towers 1|2`.
    public var towers: Towers?
    /// `--channels rgb|bgr`.
    public var channels: ChannelOrder?
    /// `--naming` (format specific).
    public var naming: String?
    /// Element type to write (nil: float32).
    public var dtype: DType?
    /// Overwrite an existing output (`--force`).
    public var force: Bool
    /// Further files the command read (companion files such as `--prototxt`); never written over.
    public var protectedInputs: [String] = []

    public init(format: String? = nil, output: String? = nil, towers: Towers? = nil, channels: ChannelOrder? = nil,
                naming: String? = nil, dtype: DType? = nil, force: Bool = false) {
        self.format = format
        self.output = output
        self.towers = towers
        self.channels = channels
        self.naming = naming
        self.dtype = dtype
        self.force = force
    }
}

/// Import and export steps shared by the commands.
public enum Conversion {
    /// The file name without directory and without its format's extension: the longest of the
    /// exporters' file extensions it ends with (`.alexnet.safetensors`, `.weights.h5`), else its last extension.
    public static func stem(of path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        if let suffix = FormatRegistry.fileExtensions.filter({ name.lowercased().hasSuffix($0) && $0.count < name.count }).max(by: { $0.count < $1.count }),
           suffix.dropFirst().contains(".") {
            name.removeLast(suffix.count)
            return name
        }
        if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        return name
    }

    /// Default canonical output for an imported file: `<stem>.alexnet.safetensors` in the current directory.
    public static func defaultImportOutput(for input: String) -> String {
        stem(of: input) + CanonicalFile.suffix
    }

    /// Applies `--towers` and `--channels` to `model`.
    public static func transform(_ model: Model, towers: Towers?, channels: ChannelOrder?) throws -> Model {
        var model = model
        switch towers {
        case nil: break
        case .one: model = model.expandingTowers()
        case .two: model = try model.collapsingToTwoTowers()
        }
        if let channels { model = try model.withChannelOrder(channels) }
        return model
    }

    /// Refuses to write over an input file or, without `force`, over any existing file.
    public static func checkOutput(_ output: String, inputs: [String], force: Bool) throws {
        let target = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
        for input in inputs {
            let source = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path
            if source == target { throw UsageError("\(output): is the input file; alexconv never overwrites its input (choose another -o)") }
        }
        if !force && FileManager.default.fileExists(atPath: output) {
            throw UsageError("\(output): already exists (pass --force to overwrite it)")
        }
    }

    /// Writes `model` as requested and returns the path written (the first of the exporter's `outputFiles`). `inputPath` names the default output and is protected.
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
        let options = ExportOptions(naming: request.naming, dtype: request.dtype, overwrite: true)
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
    public static func lastImported(in directory: String = FileManager.default.currentDirectoryPath) throws -> String {
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
