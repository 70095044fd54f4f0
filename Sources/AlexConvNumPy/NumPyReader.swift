import AlexConvCore
import AlexConvPickle
import Foundation

// MARK: - .npy reader

/// Reads `.npy` files: a plain array (one tensor named after the file stem, in the file's layout,
/// zero-copy from the memory map; Fortran order and big-endian as views), or a pickled object
/// array holding a dict of arrays (bvlc `{name: [W, b]}` -> `name/0`, `name/1`; caffe-tensorflow
/// `{name: {'weights': W, 'biases': b}}` -> `name/weights`, `name/biases`), TF layout (`.channelsLast`).
public enum NumPyReader: WeightFileReader {
    public static let formatName = "npy"

    /// How deep the walk from the top-level object into dicts and lists may go.
    public static let maxContainerDepth = 8

    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        NpyHeader.looksLike(prefix)
    }

    public static func read(path: String) throws -> TensorBundle {
        try withFileContext(path) {
            let storage = try ByteStorage.map(path: path)
            return try bundle(storage: storage, path: path)
        }
    }

    /// Reads npy bytes held in `storage`; `path` names the bundle (plain arrays take its stem as their name).
    public static func bundle(storage: ByteStorage, path: String) throws -> TensorBundle {
        let header = try NpyHeader.parse(storage.bytes)
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        switch header.elementType {
        case .numeric:
            let tensor = try array(storage: storage, header: header, name: stem)
            return TensorBundle(
                path: path, format: "npy (array)", tensors: [NamedTensor(stem, tensor)],
                metadata: [
                    "npy.version": "\(header.version.major).\(header.version.minor)",
                    "npy.descr": header.elementType.descr,
                ])
        case .object:
            let result = try PickleReader.read(storage: storage, offset: header.dataOffset, allowedGlobals: NumPyPickleGlobals.allowed)
            let top = try objectArrayContents(result.value, header: header)
            var collected = TensorCollector()
            try collected.walk(top, prefix: "")
            var metadata = [
                "npy.version": "\(header.version.major).\(header.version.minor)",
                "pickle.protocol": "\(result.protocolVersion)",
            ]
            if collected.sawPythonTwoStrings { metadata["pickle.python2"] = "true" }
            guard !collected.tensors.isEmpty else {
                throw FormatError(.malformed, location: "pickled object", "holds no numeric arrays (found \(top.kindName))")
            }
            return TensorBundle(
                path: path, format: "npy (pickled \(collected.style.description))", tensors: collected.tensors,
                layout: .channelsLast, metadata: metadata, notes: collected.notes,
                layerHints: collected.layerHints.isEmpty ? nil : collected.layerHints)
        }
    }

    // MARK: Single arrays

    /// Reads the plain `.npy` array at `path` (the batches `run`, `verify` and `diff` take, and
    /// framework goldens): the array's dtype and shape, row-major as NumPy indexes it (Fortran
    /// order and big-endian as views), viewing a memory map of the file.
    public static func readArray(path: String) throws -> Tensor {
        try withFileContext(path) {
            let storage = try ByteStorage.map(path: path)
            return try readArray(storage: storage)
        }
    }

    /// The one numeric array of the `.npy` bytes in `storage`, in the file's dtype and shape
    /// (row-major indexing); a pickled object array, or data longer or shorter than the shape
    /// needs, is an error.
    public static func readArray(storage: ByteStorage, name: String = "array") throws -> Tensor {
        let header = try NpyHeader.parse(storage.bytes)
        guard case .numeric(let dtype, _) = header.elementType else {
            throw FormatError(
                .unsupported, location: "npy header",
                "descr '|O' holds Python objects (a pickle); expected a plain numeric array")
        }
        let tensor = try array(storage: storage, header: header, name: name)
        let needed = tensor.count * dtype.size  // checked by `array`
        let available = storage.bytes.count - header.dataOffset
        guard available == needed else {
            throw FormatError(
                .malformed, location: name,
                "shape \(header.shape) of \(dtype.name) needs \(needed) data bytes, the file has \(available) (\(available - needed) bytes after the data)")
        }
        return tensor
    }

    static func array(storage: ByteStorage, header: NpyHeader, name: String) throws -> Tensor {
        guard case .numeric(let dtype, let order) = header.elementType else {
            throw FormatError(.malformed, location: name, "object array: expected numeric data")
        }
        let count = try checkedElementCount(header.shape, what: name)
        let needed = try checkedMultiply(count, dtype.size, what: name)
        let available = storage.bytes.count - header.dataOffset
        guard available >= needed else {
            throw FormatError(.truncated, location: name, "shape \(header.shape) of \(dtype.name) needs \(needed) data bytes, the file has \(Swift.max(available, 0))")
        }
        return try Tensor(
            storage: storage, byteOffset: header.dataOffset, dtype: dtype, shape: header.shape,
            strides: header.fortranOrder ? NumPyPickleDecoder.fortranStrides(header.shape) : nil,
            byteOrder: order, name: name)
    }

    /// What the pickled object array holds: its single element when 0-d (a dict), else the array itself.
    static func objectArrayContents(_ value: PickleValue, header: NpyHeader) throws -> PickleValue {
        guard let decoded = try NumPyPickleDecoder.array(value, name: "") else {
            throw FormatError(.malformed, location: "pickled object", "expected a numpy object array, found \(value.kindName)")
        }
        if case .objects(let items, let shape) = decoded, shape.isEmpty, items.count == 1 { return items[0] }
        return value
    }
}

// MARK: - Walking pickled containers

/// Collects the numeric arrays of a pickled value in order, naming them by their key path.
struct TensorCollector {
    enum Style: CustomStringConvertible {
        case unknown, listDict, nestedDict, flatDict, other
        var description: String {
            switch self {
            case .listDict: return "dict, bvlc style {name: [W, b]}"
            case .nestedDict: return "dict, caffe-tensorflow style {name: {'weights': W, 'biases': b}}"
            case .flatDict: return "dict of arrays"
            case .unknown, .other: return "object"
            }
        }
    }

    var tensors: [NamedTensor] = []
    var notes: [String] = []
    var layerHints: [LayerHint] = []
    var sawPythonTwoStrings = false
    var style: Style = .unknown

    /// Walks `root` iteratively (depth-first, in pickle order).
    mutating func walk(_ root: PickleValue, prefix: String) throws {
        var work: [(value: PickleValue, name: String, depth: Int)] = [(root, prefix, 0)]
        var names = Set<String>()
        let topIsDict = root.dictEntries != nil
        while let (value, name, depth) = work.popLast() {
            guard depth <= NumPyReader.maxContainerDepth else {
                throw FormatError(.limit, location: name, "containers nested deeper than \(NumPyReader.maxContainerDepth) levels")
            }
            func join(_ key: String) -> String { name.isEmpty ? key : name + "/" + key }
            var children: [(PickleValue, String)] = []
            if let decoded = try NumPyPickleDecoder.array(value, name: name) {
                switch decoded {
                case .numeric(let tensor):
                    let finalName = name.isEmpty ? "array" : name
                    guard names.insert(finalName).inserted else { throw FormatError(.malformed, location: finalName, "two arrays have this name") }
                    tensors.append(NamedTensor(finalName, tensor))
                case .objects(let items, let shape):
                    if shape.isEmpty, items.count == 1 {
                        children.append((items[0], name))
                    } else {
                        for (index, item) in items.enumerated() { children.append((item, join(String(index)))) }
                    }
                }
            } else if let entries = value.dictEntries {
                for (key, child) in entries {
                    if case .legacyString = key { sawPythonTwoStrings = true }
                    guard let keyText = key.text ?? key.int.map(String.init) else {
                        notes.append("ignored an entry of '\(name)' whose key is a \(key.kindName)")
                        continue
                    }
                    children.append((child, join(keyText)))
                }
                if depth == 0 && topIsDict { noteStyle(entries.map(\.value)) }
                // A Python 2 dict has no order (the file holds hash order): sort its keys naturally
                // (conv1 < conv2 < ... < fc8) so the layer order means something.
                if entries.contains(where: { if case .legacyString = $0.key { return true } else { return false } }) {
                    children.sort { naturalLess($0.1, $1.1) }
                    if depth == 0 { notes.append("Python 2 dict: keys had hash order in the file; sorted naturally") }
                }
            } else if let items = value.sequence {
                for (index, item) in items.enumerated() { children.append((item, join(String(index)))) }
                if depth == 1 && topIsDict {
                    layerHints.append(LayerHint(name: name, tensorNames: items.indices.map { join(String($0)) }))
                }
            } else {
                if case .legacyString = value { sawPythonTwoStrings = true }
                notes.append("ignored '\(name.isEmpty ? "(top)" : name)': a \(value.kindName), not an array")
            }
            for child in children.reversed() { work.append((child.0, child.1, depth + 1)) }
        }
        // Hints are only useful when every list held arrays.
        let tensorNames = Set(tensors.map(\.name))
        layerHints = layerHints.filter { $0.tensorNames.allSatisfy(tensorNames.contains) }
    }

    mutating func noteStyle(_ values: [PickleValue]) {
        if values.allSatisfy({ $0.sequence != nil }) {
            style = .listDict
        } else if values.allSatisfy({ $0.dictEntries != nil }) {
            style = .nestedDict
        } else if values.allSatisfy({ $0.object != nil }) {
            style = .flatDict
        } else {
            style = .other
        }
    }
}
