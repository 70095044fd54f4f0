import AlexConvCore
import AlexConvPickle
import AlexConvZip
import Foundation

// MARK: - Exporter

/// Writes a canonical `Model` as NumPy files, atomically, streaming tensor data:
/// - `npy`: a bvlc-style pickled dict `{name: [W, b]}` (batchnorm `[gamma, beta, mean, var]`) in TF
///   layout — conv (kh, kw, in/groups, out), dense (in, out), fc6 rows in (H, W, C) order — as a
///   protocol-3 pickle of a 0-d object array (`np.load(p, allow_pickle=True).item()`).
/// - `npz`: an `np.savez`-style archive (stored, zip64); naming `tf` (`conv1_W`, `conv1_b`, TF layout,
///   default) or `canonical` (canonical names and layout).
public enum NumPyExporter: ModelExporter {
    public static let formats = ["npy", "npz"]
    /// npy is always a bvlc-style dict in TF layout (`tf` names the same thing).
    public static let npyNamings = ["bvlc", "tf"]
    /// npz: `tf` (default) or `canonical`.
    public static let npzNamings = ["tf", "canonical"]

    public static func fileExtension(for format: String) -> String { "." + format }

    public static func namings(for format: String) -> [String] { format == "npy" ? npyNamings : npzNamings }

    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        let dtype = try elementType(options)
        switch format {
        case "npy":
            _ = try checkedNaming(options, format: format)
            let layers = try channelsLastLayers(model)
            try writeAtomically(to: path, overwrite: options.overwrite) { file in
                try writeBvlcNpy(layers, dtype: dtype, to: file)
            }
        case "npz":
            let naming = try checkedNaming(options, format: format) ?? "tf"
            let tensors: [NamedTensor]
            switch naming {
            case "tf":
                tensors = try channelsLastLayers(model).flatMap { layer in
                    layer.tensors.map { NamedTensor("\(layer.name)_\($0.role)", $0.tensor) }
                }
            case "canonical":
                tensors = model.tensors
            default:
                preconditionFailure("checkedNaming lets only \(npzNamings) through")
            }
            try writeAtomically(to: path, overwrite: options.overwrite) { file in
                try writeNpz(tensors, dtype: dtype, to: file)
            }
        default:
            throw UsageError("NumPyExporter writes npy or npz, not \(format)")
        }
    }

    static func elementType(_ options: ExportOptions) throws -> DType {
        let dtype = options.dtype ?? .float32
        guard [.float16, .float32, .float64].contains(dtype) else {
            throw UsageError("NumPy files are written as float16, float32 or float64, not \(dtype.name)")
        }
        return dtype
    }

    // MARK: TF layout

    /// One layer in channels-last layout with its tensors in file order and their npz role suffixes.
    public struct ChannelsLastLayer {
        public var name: String
        public var tensors: [(role: String, tensor: Tensor)]
    }

    /// The model's layers in spec order, in TF layout: conv HWIO, dense (in, out) with fc6's rows
    /// in (H, W, C) order, batchnorm gamma/beta/mean/variance. Views, no copies.
    public static func channelsLastLayers(_ model: Model) throws -> [ChannelsLastLayer] {
        let flattened = try model.spec.flattenedMap()
        var sawDense = false
        var layers: [ChannelsLastLayer] = []
        for layer in model.spec.layers {
            switch layer {
            case .conv(let conv):
                let weight = try model.tensor("\(conv.name).weight")
                guard weight.rank == 4 else { throw ModelError(tensor: "\(conv.name).weight", "expected rank 4, found \(weight.shape)") }
                var tensors: [(String, Tensor)] = [("W", LayoutRules.oihwToHwio(weight))]
                if conv.bias { tensors.append(("b", try model.tensor("\(conv.name).bias"))) }
                layers.append(ChannelsLastLayer(name: conv.name, tensors: tensors))
            case .batchNorm(let norm):
                layers.append(
                    ChannelsLastLayer(
                        name: norm.name,
                        tensors: [
                            ("gamma", try model.tensor("\(norm.name).weight")), ("beta", try model.tensor("\(norm.name).bias")),
                            ("mean", try model.tensor("\(norm.name).running_mean")), ("variance", try model.tensor("\(norm.name).running_var")),
                        ]))
            case .dense(let dense):
                let weight = try model.tensor("\(dense.name).weight")
                guard weight.rank == 2 else { throw ModelError(tensor: "\(dense.name).weight", "expected rank 2, found \(weight.shape)") }
                var kernel = LayoutRules.transposeDense(weight)
                if !sawDense, let (c, h, w) = flattened, weight.shape[1] == c * h * w {
                    kernel = LayoutRules.fc6ToChannelsLast(weight, channels: c, height: h, width: w)
                }
                sawDense = true
                var tensors: [(String, Tensor)] = [("W", kernel)]
                if dense.bias { tensors.append(("b", try model.tensor("\(dense.name).bias"))) }
                layers.append(ChannelsLastLayer(name: dense.name, tensors: tensors))
            default:
                break
            }
        }
        return layers
    }

    // MARK: npy (pickled dict)

    /// Module numpy 1.x writes and numpy 2.x still reads for `_reconstruct`.
    static let reconstructModule = "numpy.core.multiarray"

    static func writeBvlcNpy(_ layers: [ChannelsLastLayer], dtype: DType, to file: AtomicFileWriter) throws {
        try file.write(NpyHeader.encode(elementType: .object, shape: []))
        let pickle = PickleWriter(protocolVersion: 3)
        func flush() throws { try file.write(pickle.takeBytes()) }

        pickle.global(module: reconstructModule, name: "_reconstruct")
        let reconstruct = pickle.memoize()
        pickle.global(module: "numpy", name: "ndarray")
        let ndarray = pickle.memoize()
        pickle.global(module: "numpy", name: "dtype")
        let dtypeGlobal = pickle.memoize()
        var dtypeMemo: [String: Int] = [:]

        func emitDType(_ code: String, endian: String, flags: Int) {
            if let index = dtypeMemo[code] {
                pickle.get(index)
                return
            }
            pickle.get(dtypeGlobal)
            pickle.string(code)
            pickle.bool(false)
            pickle.bool(true)
            pickle.tuple(ofLast: 3)
            pickle.reduce()
            pickle.tuple {
                pickle.int(3)
                pickle.string(endian)
                pickle.none()
                pickle.none()
                pickle.none()
                pickle.int(-1)
                pickle.int(-1)
                pickle.int(flags)
            }
            pickle.build()
            dtypeMemo[code] = pickle.memoize()
        }
        /// `_reconstruct(ndarray, (0,), b'b')` then BUILD (1, shape, dtype, False, data).
        func emitArrayStart() throws {
            pickle.get(reconstruct)
            pickle.get(ndarray)
            pickle.int(0)
            pickle.tuple(ofLast: 1)
            try pickle.bytes([UInt8(ascii: "b")])
            pickle.tuple(ofLast: 3)
            pickle.reduce()
        }

        // The 0-d object array holding the dict.
        try emitArrayStart()
        pickle.mark()
        pickle.int(1)
        pickle.emptyTuple()
        emitDType("O8", endian: "|", flags: 63)
        pickle.bool(false)
        pickle.emptyList()
        try pickle.dict {
            for layer in layers {
                pickle.string(layer.name)
                try pickle.list {
                    for (_, tensor) in layer.tensors {
                        try emitArrayStart()
                        pickle.mark()
                        pickle.int(1)
                        pickle.tuple { for dim in tensor.shape { pickle.int(dim) } }
                        emitDType(dtype.numpyCode ?? "f4", endian: dtype.size == 1 ? "|" : "<", flags: 0)
                        pickle.bool(false)
                        // The BINBYTES length is known up front; the data streams straight to the file.
                        let byteCount = try checkedMultiply(tensor.count, dtype.size, what: "array")
                        try pickle.bytesHeader(count: byteCount)
                        try flush()
                        try tensor.forEachChunk(as: dtype) { try file.write($0) }
                        pickle.noteStreamed(byteCount)
                        pickle.tupleFromMark()
                        pickle.build()
                    }
                }
            }
        }
        pickle.append()
        pickle.tupleFromMark()
        pickle.build()
        pickle.stop()
        try flush()
    }
}

// MARK: - Single arrays

extension NumPyExporter {
    /// Writes `tensor` as a plain `.npy` array in its own dtype, little-endian, row-major, with the
    /// header `np.save` writes (version 1.0 unless the header needs 2.0), atomically.
    public static func writeArray(_ tensor: Tensor, to path: String, overwrite: Bool = true) throws {
        guard tensor.dtype.numpyCode != nil else {
            throw UsageError("\(path): \(tensor.dtype.name) has no NumPy dtype (convert it to float32 first)")
        }
        let header = NpyHeader.encode(elementType: .numeric(tensor.dtype, .little), shape: tensor.shape)
        try writeAtomically(to: path, overwrite: overwrite) { file in
            try file.write(header)
            try tensor.forEachChunk { try file.write($0) }
        }
    }
}

// MARK: - npz

extension NumPyExporter {
    /// An `np.savez`-style archive: one stored `name.npy` member per tensor, zip64 extra fields on
    /// every member as numpy writes them, data streamed from the tensors.
    static func writeNpz(_ tensors: [NamedTensor], dtype: DType, to file: AtomicFileWriter) throws {
        let zip = ZipWriter(file: file, forceZip64: true)
        for named in tensors {
            let header = NpyHeader.encode(elementType: .numeric(dtype, .little), shape: named.tensor.shape)
            let dataBytes = try checkedMultiply(named.tensor.count, dtype.size, what: named.name)
            try zip.addEntry(name: named.name + ".npy", size: header.count + dataBytes) { sink in
                try sink.write(header)
                try named.tensor.forEachChunk(as: dtype) { try sink.write($0) }
            }
        }
        try zip.finish()
    }
}
