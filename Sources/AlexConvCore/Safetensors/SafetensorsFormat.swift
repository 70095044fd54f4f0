import Foundation

/// Reads safetensors files, canonical or plain.
public enum SafetensorsReader: WeightFileReader {
    public static let formatName = "safetensors"
    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool { Safetensors.looksLike(prefix) }
    public static func read(path: String) throws -> TensorBundle {
        var bundle = try Safetensors.read(path: path)
        if CanonicalFile.isCanonical(bundle) {
            bundle.format = "alexconv canonical (safetensors)"
            bundle.layout = .channelsFirst
        }
        return bundle
    }
}

/// Writes `safetensors` (a plain file with PyTorch state-dict names and layout, as
/// `safetensors.torch.save_file` writes, plus the spec in its metadata) and `alexnet` (the
/// canonical model file: canonical names and layout, spec, source and format version).
public enum SafetensorsExporter: ModelExporter {
    public static let formats = ["safetensors", "alexnet"]

    public static func fileExtension(for format: String) -> String {
        format == "alexnet" ? CanonicalFile.suffix : ".safetensors"
    }

    public static func namings(for format: String) -> [String] { format == "alexnet" ? [] : TorchNaming.names }

    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        switch format {
        case "alexnet":
            _ = try checkedNaming(options, format: format)
            try CanonicalFile.write(model, to: path, dtype: options.dtype ?? .float32, overwrite: options.overwrite)
        case "safetensors":
            try model.validate()
            let naming = try TorchNaming.resolve(checkedNaming(options, format: format), for: model.spec)
            let dtype = options.dtype ?? .float32
            guard dtype.isFloatingPoint else {
                throw UsageError("dtype \(dtype.name): safetensors weights are written as float32, float16, bfloat16 or float64")
            }
            // Floating-point tensors in the asked dtype; counters (num_batches_tracked) keep theirs.
            let state = try naming.stateDict(of: model).map { item -> NamedTensor in
                item.tensor.dtype.isFloatingPoint ? NamedTensor(item.name, item.tensor.contiguous(as: dtype)) : item
            }
            try Safetensors.write(
                state, metadata: ["format": "pt", CanonicalFile.specKey: model.spec.json()],
                to: path, overwrite: options.overwrite)
        default:
            throw UsageError("SafetensorsExporter writes safetensors or alexnet, not '\(format)'")
        }
    }
}
