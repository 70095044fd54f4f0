import Foundation

/// Loads any readable weight file as a canonical model (import on the fly).
public enum ModelLoader {
    /// Reads and recognises `path` (any format alexconv reads) and gives the canonical model: conv
    /// weights (out, in/groups, kh, kw), dense (out, in) with fc6's inputs in (C, H, W) order.
    /// `arch` is a preset name or a spec JSON path (nil: detect); `map` a JSON file of name renames.
    public static func load(path: String, arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()) throws -> Model {
        try recognize(path: path, arch: arch, map: map, options: options).recognition.model
    }

    /// Like `load`, also giving the file's tensors as stored (its own names and layout) and why it was recognised as it was.
    public static func recognize(path: String, arch: String? = nil, map: String? = nil, options: ReaderOptions = ReaderOptions()) throws -> (bundle: TensorBundle, recognition: Recognition) {
        let (bundle, choice, nameMap) = try read(path: path, arch: arch, map: map, options: options)
        return (bundle, try Recognizer.recognize(bundle, choice: choice, map: nameMap))
    }

    /// Resolves `--arch` and `--map` (their errors come before any weight file is read), then reads `path`.
    package static func read(path: String, arch: String?, map: String?, options: ReaderOptions = ReaderOptions()) throws
        -> (bundle: TensorBundle, choice: ArchitectureChoice, map: [String: String]?)
    {
        let choice = try architectureChoice(arch)
        let nameMap = try map.map { try Recognizer.loadMap(path: $0) }
        return (try FormatRegistry.read(path: path, options: options), choice, nameMap)
    }

    /// `--arch` value: a preset name, or a path to a spec JSON file.
    package static func architectureChoice(_ arch: String?) throws -> ArchitectureChoice {
        guard let arch else { return .detect }
        if let preset = Presets.named(arch) { return .preset(preset) }
        if arch.hasSuffix(".json") || FileManager.default.fileExists(atPath: arch) {
            return .spec(try ArchitectureSpec.load(path: arch))
        }
        throw UsageError("--arch \(arch): not a preset (\(Presets.all.map(\.name).joined(separator: ", "))) and not a spec file")
    }
}
