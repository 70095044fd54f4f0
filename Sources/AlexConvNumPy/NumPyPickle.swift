import AlexConvCore
import AlexConvPickle
import Foundation

// MARK: - Allow-list

/// The pickle globals a NumPy weight file may name. Everything else is refused by the pickle reader.
public enum NumPyPickleGlobals {
    /// ndarray reconstruction under numpy 1.x (`numpy.core`), 2.x (`numpy._core`) and pre-1.0 (`numpy.core._internal`),
    /// dtypes, scalars, protocol-5 style `_frombuffer`, and `_codecs.encode` (Python 3 protocol-2 bytes).
    public static let allowed: Set<String> = [
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.core._internal._reconstruct",
        "numpy.ndarray", "numpy.dtype",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
        "_codecs.encode", "collections.OrderedDict",
    ]
}

// MARK: - Arrays in pickles

/// A NumPy array found in a pickle: numeric data viewed in place, or Python objects.
enum PickledArray {
    case numeric(Tensor)
    case objects([PickleValue], shape: [Int])
}

/// Interprets the pickle nodes numpy writes for arrays, dtypes and scalars. Never calls anything.
enum NumPyPickleDecoder {
    static let reconstructNames: Set<String> = ["_reconstruct"]
    static let scalarName = "scalar"
    static let fromBufferName = "_frombuffer"

    /// The array `value` describes, or nil when it is not an array node.
    static func array(_ value: PickleValue, name: String) throws -> PickledArray? {
        guard let object = value.object else { return nil }
        let module = object.callable.module
        guard module.hasPrefix("numpy.") else { return nil }
        switch object.callable.name {
        case "_reconstruct":
            return try reconstructed(object, name: name)
        case scalarName:
            guard object.arguments.count == 2 else { throw decodeError(name, "numpy scalar needs (dtype, data), found \(object.arguments.count) arguments") }
            let type = try elementType(object.arguments[0], name: name)
            guard case .numeric = type else { return .objects([object.arguments[1]], shape: []) }
            return try numeric(type, shape: [], fortran: false, data: object.arguments[1], name: name)
        case fromBufferName:
            guard object.arguments.count == 4, let dims = object.arguments[2].sequence else {
                throw decodeError(name, "_frombuffer needs (buffer, dtype, shape, order)")
            }
            let shape = try dims.map { dim -> Int in
                guard let size = dim.int, size >= 0 else { throw decodeError(name, "shape entries must be non-negative ints") }
                return size
            }
            let fortran = object.arguments[3].text == "F"
            return try numeric(
                try elementType(object.arguments[1], name: name), shape: shape, fortran: fortran,
                data: object.arguments[0], name: name)
        default:
            return nil
        }
    }

    static func decodeError(_ name: String, _ detail: String) -> FormatError {
        FormatError(.malformed, location: name.isEmpty ? "pickled array" : "array '\(name)'", detail)
    }

    /// `_reconstruct(ndarray, (0,), b'b')` + BUILD `(version, shape, dtype, is_fortran, rawdata)`
    /// (numpy also accepts the 4-tuple without version that very old pickles have).
    static func reconstructed(_ object: PickleObject, name: String) throws -> PickledArray {
        guard let state = object.state?.sequence else {
            throw decodeError(name, "ndarray without a BUILD state tuple")
        }
        let fields: ArraySlice<PickleValue>
        switch state.count {
        case 5: fields = state[1...]
        case 4: fields = state[0...]
        default: throw decodeError(name, "ndarray state needs 4 or 5 fields, found \(state.count)")
        }
        let base = fields.startIndex
        guard let dims = fields[base].sequence else { throw decodeError(name, "ndarray shape is \(fields[base].kindName), expected a tuple") }
        guard dims.count <= NpyHeader.maxRank else { throw decodeError(name, "rank \(dims.count) exceeds \(NpyHeader.maxRank)") }
        let shape = try dims.map { dim -> Int in
            guard let size = dim.int, size >= 0 else { throw decodeError(name, "shape entries must be non-negative ints, found \(dim.kindName)") }
            return size
        }
        let type = try elementType(fields[base + 1], name: name)
        guard let fortran = fields[base + 2].bool else { throw decodeError(name, "is_fortran must be a bool, found \(fields[base + 2].kindName)") }
        let data = fields[base + 3]
        switch type {
        case .object:
            let count = try checkedElementCount(shape, what: "array '\(name)'")
            guard let items = data.sequence, items.count == count else {
                throw decodeError(name, "object array of shape \(shape) needs a list of \(count) objects, found \(data.kindName)")
            }
            return .objects(items, shape: shape)
        case .numeric:
            return try numeric(type, shape: shape, fortran: fortran, data: data, name: name)
        }
    }

    /// A tensor viewing the pickle's bytes in place (zero-copy; Fortran order as strides).
    static func numeric(_ type: NpyElementType, shape: [Int], fortran: Bool, data: PickleValue, name: String) throws -> PickledArray {
        guard case .numeric(let dtype, let order) = type else { throw decodeError(name, "expected a numeric dtype") }
        guard let bytes = data.rawBytes else { throw decodeError(name, "array data is \(data.kindName), expected bytes") }
        let count = try checkedElementCount(shape, what: "array '\(name)'")
        let expected = try checkedMultiply(count, dtype.size, what: "array '\(name)'")
        guard bytes.count == expected else {
            throw decodeError(name, "shape \(shape) of \(dtype.name) needs \(expected) bytes, the pickle holds \(bytes.count)")
        }
        let tensor = try Tensor(
            storage: bytes.storage, byteOffset: bytes.offset, dtype: dtype, shape: shape,
            strides: fortran ? fortranStrides(shape) : nil, byteOrder: order, name: name)
        return .numeric(tensor)
    }

    /// Column-major element strides of `shape`.
    static func fortranStrides(_ shape: [Int]) -> [Int] {
        var strides: [Int] = []
        var running = 1
        for dim in shape {
            strides.append(running)
            running *= Swift.max(dim, 1)
        }
        return strides
    }

    /// A pickled dtype: REDUCE `numpy.dtype('f4', False, True)` + BUILD `(3, '<', ...)`.
    static func elementType(_ value: PickleValue, name: String) throws -> NpyElementType {
        guard let object = value.object, object.callable.name == "dtype", let code = object.arguments.first?.text else {
            throw decodeError(name, "expected a numpy.dtype, found \(value.kindName)")
        }
        var endian = "|"
        if let state = object.state?.sequence, state.count >= 2, let text = state[1].text { endian = text }
        return try NpyElementType(descr: endian + code)
    }
}
