import AlexConv
import ArgumentParser

/// Options shared by commands that import a file.
struct ImportOptions: ParsableArguments {
    @Option(name: .long, help: "Architecture: a preset (\(Presets.all.map(\.name).joined(separator: ", "))) or a spec JSON file. Default: detect.")
    var arch: String?

    @Option(name: .long, help: "JSON object mapping source tensor names to canonical names (conv1.weight, ...).")
    var map: String?

    /// The files these options name (a spec file, a name map): inputs no output may replace.
    var files: [String] { [arch, map].compactMap { $0 } }

    @Option(name: .long, help: "Caffe network definition for a .caffemodel (default: <stem>.prototxt or deploy.prototxt beside it).")
    var prototxt: String?

    @Option(name: .long, help: "Caffe mean file (imagenet_mean.binaryproto), recorded in the model's preprocessing.")
    var mean: String?

    @Flag(name: .customLong("mean-per-channel"), help: "Record the mean file's per-channel averages instead of its per-pixel mean image.")
    var meanPerChannel = false

    /// The companion files given, for the readers that use them.
    var readerOptions: ReaderOptions { ReaderOptions(prototxt: prototxt, mean: mean, meanPerChannel: meanPerChannel) }

    /// Every file reading `model` uses (its shards, companion files given or found beside it): never written over.
    func inputFiles(of model: String) -> [String] {
        FormatRegistry.inputFiles(of: model, options: readerOptions)
    }

    func validate() throws {
        if meanPerChannel && mean == nil { throw ValidationError("--mean-per-channel needs --mean") }
    }
}

/// Options shared by commands that write a format.
struct WriteOptions: ParsableArguments {
    @Option(name: .long, help: "Expand two-tower convolutions (1) or restore them (2, only when the off-diagonal blocks are zero).")
    var towers: Towers?

    @Option(name: .long, help: "Input channel order the written model takes (swaps conv1's input channels).")
    var channels: ChannelOrder?

    @Option(name: .long, help: ArgumentHelp("Tensor naming of the target format.", discussion: WriteOptions.namingHelp))
    var naming: String?

    @Option(name: .long, help: "Element type to write (default float32).")
    var dtype: WeightDType?

    @Flag(name: .long, help: "Overwrite an existing output file.")
    var force = false

    /// Each format's namings, from its exporter: "npz: tf, canonical; pth: sequential, ...".
    static var namingHelp: String {
        FormatRegistry.exportFormats.compactMap { format in
            let namings = FormatRegistry.namings(for: format)
            return namings.isEmpty ? nil : "\(format): \(namings.joined(separator: ", "))"
        }.joined(separator: "; ")
    }

    func request(format: ExportFormat?, output: String?, protecting inputs: [String] = []) -> ExportRequest {
        var request = ExportRequest(
            format: format?.name, output: output, towers: towers, channels: channels,
            naming: naming, dtype: dtype?.dtype, force: force)
        request.protectedInputs = inputs
        return request
    }
}
