import AlexConv
import ArgumentParser

// Typed option values: ArgumentParser checks them, lists their cases in `--help` and shell
// completions, and `run()` receives the value itself (no second parse, no silent default).

extension ChannelOrder: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension BatchLayout: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Towers: ExpressibleByArgument {}

/// `--dtype`: the floating-point element types weights can be written as.
enum WeightDType: String, CaseIterable, ExpressibleByArgument {
    case float32, float16, bfloat16, float64

    /// Also the short spellings DType knows (`f16`, `half`, `bf16`, ...).
    init?(argument: String) {
        guard let dtype = DType(userName: argument), let value = WeightDType(rawValue: dtype.name) else { return nil }
        self = value
    }

    var dtype: DType { DType(userName: rawValue)! }
}

/// `--format`: a format some exporter writes.
struct ExportFormat: ExpressibleByArgument, CustomStringConvertible {
    let name: String

    init?(argument: String) {
        let key = argument.lowercased().trimmingCharacters(in: [" ", "."])
        guard FormatRegistry.exportFormats.contains(key) else { return nil }
        name = key
    }

    var description: String { name }
    static var allValueStrings: [String] { FormatRegistry.exportFormats }
    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }
}

extension ResizeMode: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
