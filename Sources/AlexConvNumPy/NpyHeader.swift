import AlexConvCore
import Foundation

// MARK: - Element type

/// A NumPy `descr` (`<f4`, `>f8`, `|u1`, `|O`): a numeric element type and byte order, or object.
public enum NpyElementType: Equatable, Sendable {
    case numeric(DType, Tensor.ByteOrder)
    /// `|O`: Python objects; a pickle follows the header.
    case object

    /// Parses a descr string; a `FormatError` names unsupported ones (complex, strings, structured).
    public init(descr: String) throws {
        guard let first = descr.first else { throw FormatError(.malformed, location: "npy header", "empty descr") }
        var code = descr
        var order: Tensor.ByteOrder = .little
        switch first {
        case "<", "=": code.removeFirst()
        case ">":
            code.removeFirst()
            order = .big
        case "|": code.removeFirst()
        default: break
        }
        if code == "O" || code == "O8" || code == "O4" {
            self = .object
            return
        }
        if code == "?" { code = "b1" }
        guard let dtype = DType(numpyCode: code) else {
            throw FormatError(.unsupported, location: "npy header", "descr '\(descr)' is not supported (expected float16/32/64, int8-64, uint8 or bool)")
        }
        self = .numeric(dtype, dtype.size == 1 ? .little : order)
    }

    /// The descr numpy writes: `<f4`, `|u1`, `|O`.
    public var descr: String {
        switch self {
        case .object: return "|O"
        case .numeric(let dtype, let order):
            let code = dtype.numpyCode ?? "V2"
            if dtype.size == 1 { return "|" + code }
            return (order == .big ? ">" : "<") + code
        }
    }
}

// MARK: - Header

/// The header of a `.npy` file: element type, order, shape, and where the data starts.
public struct NpyHeader: Equatable, Sendable {
    /// Magic `\x93NUMPY`.
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// Largest header accepted (numpy itself refuses headers over 10,000 bytes without a flag).
    public static let maxHeaderBytes = 1 << 20
    /// Largest rank accepted.
    public static let maxRank = 32
    /// numpy pads the preamble to this alignment.
    static let alignment = 64
    /// numpy >= 1.24 leaves room for the growth axis to reach this many digits.
    static let growthAxisMaxDigits = 21

    public var version: (major: UInt8, minor: UInt8)
    public var elementType: NpyElementType
    public var fortranOrder: Bool
    public var shape: [Int]
    /// Byte offset of the data (or of the pickle, for object arrays).
    public var dataOffset: Int

    public static func == (a: NpyHeader, b: NpyHeader) -> Bool {
        a.version == b.version && a.elementType == b.elementType && a.fortranOrder == b.fortranOrder
            && a.shape == b.shape && a.dataOffset == b.dataOffset
    }

    /// True when `prefix` starts with the npy magic.
    public static func looksLike(_ prefix: UnsafeRawBufferPointer) -> Bool {
        prefix.count >= 6 && zip(prefix.prefix(6), magic).allSatisfy { $0 == $1 }
    }

    /// Parses the header at the start of `bytes` (v1.0, v2.0, v3.0; the length field is trusted, not the padding).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> NpyHeader {
        let reader = ByteCursor(bytes, label: "npy header")
        guard looksLike(bytes) else {
            throw FormatError(.malformed, location: "npy header", "missing the \\x93NUMPY magic")
        }
        let major = try reader.integer(UInt8.self, at: 6, what: "npy version")
        let minor = try reader.integer(UInt8.self, at: 7, what: "npy version")
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(try reader.integer(UInt16.self, at: 8, what: "npy header length"))
            headerStart = 10
        case 2, 3:
            headerLength = Int(try reader.integer(UInt32.self, at: 8, what: "npy header length"))
            headerStart = 12
        default:
            throw FormatError(.unsupported, location: "npy header", "version \(major).\(minor) is not supported (expected 1.0, 2.0 or 3.0)")
        }
        guard headerLength <= maxHeaderBytes else {
            throw FormatError(.limit, location: "npy header", "header of \(headerLength) bytes exceeds the \(maxHeaderBytes)-byte limit")
        }
        let raw = try reader.slice(at: headerStart, count: headerLength, what: "npy header")
        // v1/v2 headers are latin-1, v3 UTF-8.
        let text: String
        if major == 3 {
            guard let utf8 = String(validating: raw, as: UTF8.self) else { throw FormatError(.malformed, location: "npy header", "v3 header is not UTF-8") }
            text = utf8
        } else {
            text = String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
        }
        guard case .dict(let entries) = try PythonLiteralParser.parse(text) else {
            throw FormatError(.malformed, location: "npy header", "expected a dict literal, found '\(text.prefix(80))'")
        }
        func value(_ key: String) throws -> PythonLiteral {
            guard let entry = entries.first(where: { $0.key.text == key }) else {
                throw FormatError(.malformed, location: "npy header", "missing key '\(key)' in \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            return entry.value
        }
        guard case .string(let descr) = try value("descr") else {
            throw FormatError(.unsupported, location: "npy header", "descr must be a string (structured dtypes are not supported)")
        }
        guard case .bool(let fortran) = try value("fortran_order") else {
            throw FormatError(.malformed, location: "npy header", "fortran_order must be True or False")
        }
        let shapeValue = try value("shape")
        let dims: [PythonLiteral]
        switch shapeValue {
        case .tuple(let items): dims = items
        case .int: dims = [shapeValue]  // a malformed `(5)` parses as 5
        default: throw FormatError(.malformed, location: "npy header", "shape must be a tuple of ints")
        }
        guard dims.count <= maxRank else { throw FormatError(.limit, location: "npy header", "rank \(dims.count) exceeds \(maxRank)") }
        var shape: [Int] = []
        for dim in dims {
            guard case .int(let size) = dim, size >= 0 else { throw FormatError(.malformed, location: "npy header", "shape must be a tuple of non-negative ints") }
            shape.append(size)
        }
        _ = try checkedElementCount(shape, what: "npy shape")
        return NpyHeader(
            version: (major, minor), elementType: try NpyElementType(descr: descr), fortranOrder: fortran,
            shape: shape, dataOffset: headerStart + headerLength)
    }

    // MARK: Writing

    /// The header bytes numpy's `np.save` writes for this element type and shape (version 1.0,
    /// keys sorted, growth-axis spaces, preamble padded to 64 bytes with spaces and a newline).
    public static func encode(elementType: NpyElementType, shape: [Int], fortranOrder: Bool = false) -> [UInt8] {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(elementType.descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(shapeText), }"
        if let growth = fortranOrder ? shape.last : shape.first {
            header += String(repeating: " ", count: Swift.max(0, growthAxisMaxDigits - String(growth).count))
        }
        var bytes = Array(header.utf8)
        var lengthFieldSize = 2
        var version: UInt8 = 1
        let total = { (field: Int) in 8 + field + bytes.count + 1 }
        var padding = alignment - total(lengthFieldSize) % alignment
        if bytes.count + padding + 1 > 0xFFFF {
            lengthFieldSize = 4
            version = 2
            padding = alignment - total(lengthFieldSize) % alignment
        }
        let headerLength = bytes.count + padding + 1
        bytes += [UInt8](repeating: 0x20, count: padding)
        bytes.append(0x0A)
        var out = magic + [version, 0]
        if lengthFieldSize == 2 {
            withUnsafeBytes(of: UInt16(headerLength).littleEndian) { out += $0 }
        } else {
            withUnsafeBytes(of: UInt32(headerLength).littleEndian) { out += $0 }
        }
        return out + bytes
    }
}
