import Foundation
import AlexConvCore

// MARK: - Plain .npy arrays

/// Minimal reader and writer of plain (non-object) `.npy` arrays for `run`, `verify` and `diff`:
/// the tensors users feed and the goldens frameworks write. Pickled object arrays are refused.
public enum NPYFile {
    /// Largest header accepted (NumPy writes a few hundred bytes).
    public static let maxHeaderBytes = 65_536
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads `path` as a tensor in the array's dtype and shape (row-major; Fortran order is
    /// transposed into a view). The tensor views a memory map of the file.
    public static func read(path: String) throws -> Tensor {
        let storage = try ByteStorage.map(path: path)
        return try withFileContext(path) { try read(storage: storage) }
    }

    /// Parses `.npy` bytes held by `storage`.
    public static func read(storage: ByteStorage) throws -> Tensor {
        let reader = ByteCursor(storage.bytes, label: "")
        let head = try reader.slice(at: 0, count: 8, what: ".npy magic and version")
        guard Array(head[0..<6]) == magic else { throw FormatError(.malformed, "not a .npy file (no \\x93NUMPY magic)") }
        let major = head[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(try reader.integer(UInt16.self, at: 8, what: ".npy header length")); headerStart = 10
        case 2, 3: headerLength = Int(try reader.integer(UInt32.self, at: 8, what: ".npy header length")); headerStart = 12
        default: throw FormatError(.unsupported, ".npy version \(major) is not supported (expected 1, 2 or 3)")
        }
        guard headerLength <= maxHeaderBytes else {
            throw FormatError(.limit, ".npy header of \(headerLength) bytes exceeds the limit \(maxHeaderBytes)")
        }
        let header = String(decoding: try reader.slice(at: headerStart, count: headerLength, what: ".npy header"), as: UTF8.self)
        guard let descr = value(of: "descr", in: header), let order = value(of: "fortran_order", in: header),
              let shapeText = value(of: "shape", in: header) else {
            throw FormatError(.malformed, ".npy header needs descr, fortran_order and shape: \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let typeCode = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        guard typeCode != "|O", typeCode.first != "[" else {
            throw FormatError(.unsupported, ".npy holds \(typeCode == "|O" ? "Python objects (a pickle)" : "a structured dtype"); expected a plain numeric array")
        }
        var code = Substring(typeCode)
        var byteOrder: Tensor.ByteOrder = .little
        if let first = code.first, "<>|=".contains(first) {
            if first == ">" { byteOrder = .big }
            code = code.dropFirst()
        }
        guard let dtype = DType(numpyCode: String(code)) else {
            throw FormatError(.unsupported, ".npy dtype '\(typeCode)' is not supported (expected a float, int, uint8 or bool type)")
        }
        let fortran = order.trimmingCharacters(in: .whitespaces) == "True"
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let dim = Int(text), dim >= 0 else { throw FormatError(.malformed, ".npy shape '\(shapeText)' is not a tuple of sizes") }
            shape.append(dim)
        }
        let dataStart = headerStart + headerLength
        let count = try checkedElementCount(shape, what: ".npy array")
        let bytes = try checkedMultiply(count, dtype.size, what: ".npy array")
        guard storage.bytes.count - dataStart == bytes else {
            throw FormatError(.malformed, ".npy data is \(storage.bytes.count - dataStart) bytes, shape \(shape) of \(dtype.name) needs \(bytes)")
        }
        if fortran && shape.count > 1 {
            let reversedShape = Array(shape.reversed())
            let view = try Tensor(storage: storage, byteOffset: dataStart, dtype: dtype, shape: reversedShape, byteOrder: byteOrder, name: "array")
            return view.transposed(Array((0..<shape.count).reversed()))
        }
        return try Tensor(storage: storage, byteOffset: dataStart, dtype: dtype, shape: shape, byteOrder: byteOrder, name: "array")
    }

    /// The text of `key`'s value in a Python dict literal header (quoted string, tuple or bare word).
    private static func value(of key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        if let quote = rest.first, quote == "'" || quote == "\"" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: quote) else { return nil }
            return String(body[..<end])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return String(rest[..<end])
    }

    /// Writes `tensor` as a little-endian `.npy` (version 1) in its dtype, atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        guard let code = tensor.dtype.numpyCode else {
            throw UsageError("\(path): \(tensor.dtype.name) has no NumPy dtype")
        }
        let order = tensor.dtype.size == 1 ? "|" : "<"
        let dims = tensor.shape.map(String.init)
        let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(\(dims.joined(separator: ", ")))"
        var header = "{'descr': '\(order)\(code)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var prefix = magic + [1, 0]
        let length = UInt16(header.utf8.count)
        prefix += [UInt8(length & 0xFF), UInt8(length >> 8)]
        try writeAtomically(to: path) { file in
            try file.write(prefix)
            try file.write(header)
            try tensor.forEachChunk { try file.write($0) }
        }
    }
}
