import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation

// MARK: - Exporter

/// Writes a canonical `Model` as a PyTorch state dict (`pth`: a torch.save zip archive that
/// `torch.load(path)` opens with its default `weights_only=True`; `SafetensorsExporter` writes the
/// same names as safetensors). Tensors keep the canonical layout, which is torch's:
/// conv (out, in/groups, kh, kw), linear (out, in), fc6 input over (C, H, W).
public enum TorchExporter: ModelExporter {
    public static let formats = ["pth"]

    /// Alignment of every record's data in the archive, as torch writes it.
    public static let recordAlignment = 64

    public static func fileExtension(for format: String) -> String { ".pth" }

    public static func namings(for format: String) -> [String] { TorchNaming.names }

    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        try model.validate()
        let naming = try TorchNaming.resolve(checkedNaming(options, format: format), for: model.spec)
        let dtype = options.dtype ?? .float32
        guard dtype.isFloatingPoint else {
            throw UsageError("dtype \(dtype.name): PyTorch weights are written as float32, float16, bfloat16 or float64")
        }
        let state = try naming.stateDict(of: model)
        try writeStateDict(
            state, modules: naming.modules(for: model.spec), floatType: dtype, to: path,
            overwrite: options.overwrite, spec: model.spec.json())
    }

    // MARK: - torch.save archives

    /// Storage class written for each dtype.
    static let storageClass: [DType: String] = [
        .float32: "FloatStorage", .float64: "DoubleStorage", .float16: "HalfStorage", .bfloat16: "BFloat16Storage",
        .int64: "LongStorage", .int32: "IntStorage", .int16: "ShortStorage", .int8: "CharStorage",
        .uint8: "ByteStorage", .bool: "BoolStorage",
    ]

    /// Writes `tensors` as a torch.save zip archive of an OrderedDict state dict: floating-point
    /// tensors in `floatType`, others as they are; `_metadata` lists `modules` with their versions.
    /// Records as torch orders them: data.pkl, .format_version, .storage_alignment, byteorder,
    /// data/0..n, version, .data/serialization_id; each 64-byte aligned and stored.
    public static func writeStateDict(
        _ tensors: [NamedTensor], modules: [TorchNaming.Module], floatType: DType = .float32,
        to path: String, overwrite: Bool = true, spec: String? = nil
    ) throws {
        let written = tensors.map { item -> (name: String, tensor: Tensor, dtype: DType) in
            (item.name, item.tensor, item.tensor.dtype.isFloatingPoint ? floatType : item.tensor.dtype)
        }
        let pickle = try statePickle(written.map { ($0.name, $0.tensor.shape, $0.dtype) }, modules: modules, spec: spec)
        let folder = archiveFolder(for: path)
        try writeAtomically(to: path, overwrite: overwrite) { file in
            let zip = ZipWriter(file: file)
            try zip.addEntry(name: "\(folder)/data.pkl", bytes: pickle, alignment: recordAlignment)
            try zip.addEntry(name: "\(folder)/.format_version", bytes: Array("1".utf8), alignment: recordAlignment)
            try zip.addEntry(name: "\(folder)/.storage_alignment", bytes: Array("64".utf8), alignment: recordAlignment)
            try zip.addEntry(name: "\(folder)/byteorder", bytes: Array("little".utf8), alignment: recordAlignment)
            for (index, item) in written.enumerated() {
                let size = try checkedMultiply(item.tensor.count, item.dtype.size, what: item.name)
                try zip.addEntry(name: "\(folder)/data/\(index)", size: size, alignment: recordAlignment) { sink in
                    try item.tensor.forEachChunk(as: item.dtype) { try sink.write($0) }
                }
            }
            try zip.addEntry(name: "\(folder)/version", bytes: Array("3\n".utf8), alignment: recordAlignment)
            try zip.addEntry(name: "\(folder)/.data/serialization_id", bytes: serializationID(), alignment: recordAlignment)
            try zip.finish()
        }
    }

    /// The archive's top folder: the file name without its extension, as torch names it.
    static func archiveFolder(for path: String) -> String {
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let cleaned = String(
            stem.unicodeScalars.map { scalar -> Character in
                CharacterSet.alphanumerics.contains(scalar) || "_-.".unicodeScalars.contains(scalar) ? Character(scalar) : "_"
            })
        return cleaned.isEmpty ? "archive" : cleaned
    }

    /// 40 decimal digits, as torch writes to `.data/serialization_id`.
    static func serializationID() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<40).map { _ in UInt8(ascii: "0") + UInt8(generator.next(upperBound: UInt8(10))) }
    }

    /// The data.pkl of an OrderedDict state dict, using only what `weights_only=True` accepts:
    /// `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch.<T>Storage`
    /// persistent ids, ints, strs, tuples, bools, dicts; protocol 2 like torch.save.
    /// `spec` (architecture JSON) goes into `_metadata['']['alexconv.spec']`, where torch ignores it
    /// and alexconv's reader finds it again, so a re-import keeps the exact architecture.
    static func statePickle(
        _ tensors: [(name: String, shape: [Int], dtype: DType)], modules: [TorchNaming.Module],
        spec: String? = nil
    ) throws -> [UInt8] {
        let p = PickleWriter(protocolVersion: 2)
        p.global(module: "collections", name: "OrderedDict")
        let orderedDict = p.memoize()
        p.emptyTuple()
        p.reduce()
        p.memoize()
        var rebuild: Int?
        var storageClasses: [DType: Int] = [:]
        p.mark()
        for (index, item) in tensors.enumerated() {
            guard let storage = storageClass[item.dtype] else {
                throw ModelError(tensor: item.name, "dtype \(item.dtype.name) has no torch storage class")
            }
            p.string(item.name)
            if let rebuild {
                p.get(rebuild)
            } else {
                p.global(module: "torch._utils", name: "_rebuild_tensor_v2")
                rebuild = p.memoize()
            }
            p.tuple {
                p.tuple {
                    p.string("storage")
                    if let memo = storageClasses[item.dtype] {
                        p.get(memo)
                    } else {
                        p.global(module: "torch", name: storage)
                        storageClasses[item.dtype] = p.memoize()
                    }
                    p.string(String(index))
                    p.string("cpu")
                    p.int(item.shape.reduce(1, *))
                }
                p.persistentID()
                p.int(0)
                p.tuple { for dim in item.shape { p.int(dim) } }
                p.tuple { for stride in Tensor.contiguousStrides(item.shape) { p.int(stride) } }
                p.bool(false)
                p.get(orderedDict)
                p.emptyTuple()
                p.reduce()
            }
            p.reduce()
        }
        p.setItems()
        // BUILD {'_metadata': OrderedDict({'': {'version': 1}, 'features': {'version': 1}, ...})}
        p.dict {
            p.string("_metadata")
            p.get(orderedDict)
            p.emptyTuple()
            p.reduce()
            p.mark()
            for module in [TorchNaming.Module(name: "", canonicalLayer: nil, isBatchNorm: false)] + modules {
                p.string(module.name)
                p.dict {
                    p.string("version")
                    p.int(module.isBatchNorm ? 2 : 1)
                    if module.name.isEmpty, let spec {
                        p.string(CanonicalFile.specKey)
                        p.string(spec)
                    }
                }
            }
            p.setItems()
        }
        p.build()
        p.stop()
        return p.takeBytes()
    }
}
