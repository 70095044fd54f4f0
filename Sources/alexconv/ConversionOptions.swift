import AlexConv
import ArgumentParser

/// Options shared by commands that import a file.
struct ImportOptions: ParsableArguments {
    @Option(name: .long, help: "Architecture: a preset (\(Presets.all.map(\.name).joined(separator: ", "))) or a spec JSON file. Default: detect.")
    var arch: String?

    @Option(name: .long, help: "JSON object mapping source tensor names to canonical names (conv1.weight, ...).")
    var map: String?
}

/// Options shared by commands that write a format.
struct WriteOptions: ParsableArguments {
    @Option(name: .long, help: "Expand two-tower convolutions (1) or restore them (2, only when the off-diagonal blocks are zero).")
    var towers: Int?

    @Option(name: .long, help: "Input channel order the written model takes: rgb or bgr (swaps conv1's input channels).")
    var channels: String?

    @Option(name: .long, help: "Tensor naming of the target format (e.g. sequential, canonical, layers, tf).")
    var naming: String?

    @Option(name: .long, help: "Element type to write: float32 (default), float16, bfloat16, float64.")
    var dtype: String?

    @Flag(name: .long, help: "Overwrite an existing output file.")
    var force = false

    func validate() throws {
        if let towers, towers != 1 && towers != 2 { throw ValidationError("--towers takes 1 or 2") }
        if let channels, ChannelOrder(rawValue: channels.lowercased()) == nil { throw ValidationError("--channels takes rgb or bgr") }
        if let dtype, DType(userName: dtype)?.isFloatingPoint != true { throw ValidationError("--dtype takes float32, float16, bfloat16 or float64") }
    }

    func request(format: String?, output: String?) -> ExportRequest {
        ExportRequest(format: format, output: output, towers: towers,
                      channels: channels.flatMap { ChannelOrder(rawValue: $0.lowercased()) },
                      naming: naming, dtype: dtype.flatMap { DType(userName: $0) }, force: force)
    }
}
