import Foundation

/// Byte order of a field in a file.
public enum ByteOrder: Sendable {
    case littleEndian
    case bigEndian
}

/// Bounds-checked reads of a file's bytes: integers of 1-8 bytes in either byte order, LEB128 /
/// protobuf varints, signatures and fixed-size records, at a moving position or at any offset.
///
/// Every reader of a binary container (HDF5 pre-checks, pickle, zip, torch archives, npy headers,
/// safetensors, TensorFlow tables, ...) reads through this one type. A read that would leave the
/// bytes throws a `FormatError` of kind `.truncated` whose location is the cursor's label (what is
/// being read, e.g. "zip central directory entry 3") and whose detail gives the byte offset
/// counted from the start of the file (`base` is added for cursors over a part of a file).
///
/// The reads the pickle machine and the zip directory make per opcode or entry (integers, slices,
/// skips, single bytes, length fields) are `@inlinable @inline(__always)`: one bounds check in the
/// caller's code, then an unchecked load; only building an error is out of line.
public struct ByteCursor {
    /// The bytes read; offsets are relative to their start.
    public let bytes: UnsafeRawBufferPointer
    /// The position of the next sequential read, relative to `bytes`.
    public var offset: Int
    /// The file the bytes come from, when known (else `withFileContext` names it later).
    public let file: String?
    /// What is being read, e.g. "HDF5 object header at byte 2048" or "zip central directory entry 3".
    public let label: String
    /// Offset of `bytes` in the file, added to every offset an error reports.
    public let base: Int

    /// A cursor at `offset` of `bytes`, which start at byte `base` of `file`.
    public init(_ bytes: UnsafeRawBufferPointer, file: String? = nil, label: String, at offset: Int = 0, base: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.file = file
        self.label = label
        self.base = base
    }

    /// The same bytes and position, reporting errors under another label (and position, if given).
    public func relabeled(_ label: String, at offset: Int? = nil) -> ByteCursor {
        ByteCursor(bytes, file: file, label: label, at: offset ?? self.offset, base: base)
    }

    /// Number of bytes in the buffer.
    public var count: Int { bytes.count }
    /// Bytes after the current position.
    public var remaining: Int { Swift.max(0, bytes.count - offset) }
    /// True when the position is at (or past) the end.
    public var isAtEnd: Bool { offset >= bytes.count }

    // MARK: - Errors

    /// A `FormatError` of `kind` naming this cursor's file and label.
    public func error(_ kind: FormatError.Kind, _ detail: String) -> FormatError {
        FormatError(kind, file: file, location: label.isEmpty ? nil : label, detail)
    }

    /// Throws `.truncated` unless `count` bytes from `offset` are inside the buffer.
    @inlinable @inline(__always)
    public func checkRange(at offset: Int, count: Int, what: String) throws {
        guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw truncated(what, at: offset, count: count)
        }
    }

    @usableFromInline
    func truncated(_ what: String, at offset: Int, count: Int) -> FormatError {
        let available = Swift.max(0, bytes.count - Swift.max(offset, 0))
        let at = base &+ offset
        if offset < 0 || offset > bytes.count {
            return error(.truncated, "truncated: \(what) at byte \(at) is outside the \(bytes.count) bytes there are")
        }
        return error(.truncated, "truncated: \(what) at byte \(at) needs \(count) bytes, \(available) remain")
    }

    // MARK: - Reads at an offset (the position does not move)

    /// The integer of type `T` at `offset`, in `order`.
    @inlinable @inline(__always)
    public func integer<T: FixedWidthInteger>(
        _ type: T.Type, at offset: Int, _ order: ByteOrder = .littleEndian,
        what: String
    ) throws -> T {
        try checkRange(at: offset, count: MemoryLayout<T>.size, what: what)
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        return order == .littleEndian ? T(littleEndian: raw) : T(bigEndian: raw)
    }

    /// The unsigned integer of `width` (1...8) bytes at `offset`, in `order` (HDF5's sizes of offsets and lengths).
    public func unsigned(width: Int, at offset: Int, _ order: ByteOrder = .littleEndian, what: String) throws -> UInt64 {
        precondition((1...8).contains(width), "field width \(width) is not 1...8")
        try checkRange(at: offset, count: width, what: what)
        var value: UInt64 = 0
        for i in 0..<width {
            let byte = UInt64(bytes[offset + (order == .littleEndian ? i : width - 1 - i)])
            value |= byte << (8 * UInt64(i))
        }
        return value
    }

    /// The byte at `offset`.
    @inlinable @inline(__always)
    public func byte(at offset: Int, what: String) throws -> UInt8 {
        try checkRange(at: offset, count: 1, what: what)
        return bytes[offset]
    }

    /// The `count` bytes at `offset` (a view, no copy).
    @inlinable @inline(__always)
    public func slice(at offset: Int, count: Int, what: String) throws -> UnsafeRawBufferPointer {
        try checkRange(at: offset, count: count, what: what)
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// A cursor over the `count` bytes at `offset` (a fixed-size record), labelled `label`.
    public func record(at offset: Int, count: Int, label: String) throws -> ByteCursor {
        let view = try slice(at: offset, count: count, what: label)
        return ByteCursor(view, file: file, label: label, base: base + offset)
    }

    /// True when `signature` stands at `offset` (false when it would run past either end).
    public func hasSignature<S: Collection<UInt8>>(_ signature: S, at offset: Int) -> Bool {
        offset >= 0 && offset <= bytes.count - signature.count
            && bytes[offset..<(offset + signature.count)].elementsEqual(signature)
    }

    /// Throws `.malformed` ("expected <what>") unless `signature` stands at `offset`.
    public func expectSignature<S: Collection<UInt8>>(_ signature: S, at offset: Int, what: String) throws {
        try checkRange(at: offset, count: signature.count, what: what)
        guard hasSignature(signature, at: offset) else {
            throw error(.malformed, "no \(what) at byte \(base + offset)")
        }
    }

    // MARK: - Sequential reads (the position moves past what was read)

    /// Reads an integer of type `T` in `order`.
    @inlinable @inline(__always)
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ order: ByteOrder = .littleEndian, what: String) throws -> T {
        let value = try integer(type, at: offset, order, what: what)
        offset += MemoryLayout<T>.size
        return value
    }

    /// Reads an unsigned integer of `width` (1...8) bytes in `order`.
    public mutating func readUnsigned(width: Int, _ order: ByteOrder = .littleEndian, what: String) throws -> UInt64 {
        let value = try unsigned(width: width, at: offset, order, what: what)
        offset += width
        return value
    }

    /// The next byte, moving past it; nil at the end (for loops that handle the end themselves).
    @inlinable @inline(__always)
    public mutating func nextByte() -> UInt8? {
        guard offset >= 0, offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a length field of type `T` in `order` and checks that that many bytes follow it;
    /// `.truncated` ("<what> at byte N claims L bytes, only R left") when they do not.
    @inlinable @inline(__always)
    public mutating func readLength<T: FixedWidthInteger>(
        _ type: T.Type, _ order: ByteOrder = .littleEndian,
        what: String
    ) throws -> Int {
        let start = offset
        let raw = try read(type, order, what: what)
        guard raw >= 0, let length = Int(exactly: raw), length <= bytes.count - offset else {
            throw lengthPastEnd(what, at: start, claimed: String(raw))
        }
        return length
    }

    @usableFromInline
    func lengthPastEnd(_ what: String, at start: Int, claimed: String) -> FormatError {
        let field = "\(what) at byte \(base &+ start)"
        if claimed.hasPrefix("-") { return error(.malformed, "\(field) is negative (\(claimed))") }
        return error(.truncated, "\(field) claims \(claimed) bytes, only \(remaining) left in the file")
    }

    /// Reads the bytes up to the next `terminator` (exclusive) and moves past the terminator;
    /// `.truncated` when none follows (the text lines of pickle protocol 0).
    public mutating func readLine(terminator: UInt8 = 0x0A, what: String) throws -> UnsafeRawBufferPointer {
        let start = offset
        guard start >= 0, start <= bytes.count,
            let end = bytes[start...].firstIndex(of: terminator)
        else {
            throw error(.truncated, "truncated: \(what) at byte \(base &+ start) has no terminating newline")
        }
        offset = end + 1
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Reads `count` bytes (a view, no copy).
    @inlinable @inline(__always)
    public mutating func readBytes(_ count: Int, what: String) throws -> UnsafeRawBufferPointer {
        let view = try slice(at: offset, count: count, what: what)
        offset += count
        return view
    }

    /// Reads `count` bytes as a cursor of their own (a fixed-size record), labelled `label`.
    public mutating func readRecord(_ count: Int, label: String) throws -> ByteCursor {
        let cursor = try record(at: offset, count: count, label: label)
        offset += count
        return cursor
    }

    /// Moves past `count` bytes.
    @inlinable @inline(__always)
    public mutating func skip(_ count: Int, what: String) throws {
        try checkRange(at: offset, count: count, what: what)
        offset += count
    }

    /// Moves to `offset`, which must be inside the bytes (or at their end).
    public mutating func seek(to offset: Int, what: String) throws {
        try checkRange(at: offset, count: 0, what: what)
        self.offset = offset
    }

    /// Reads `signature` or throws `.malformed` naming `what`.
    public mutating func readSignature<S: Collection<UInt8>>(_ signature: S, what: String) throws {
        try expectSignature(signature, at: offset, what: what)
        offset += signature.count
    }

    /// Reads an unsigned LEB128 varint (protobuf, LevelDB) of at most `maxBytes` bytes (10 for 64 bits, 5 for 32).
    public mutating func readVarint(what: String, maxBytes: Int = Varint.maxBytes64) throws -> UInt64 {
        let start = offset
        switch Varint.decode(bytes, at: offset, maxBytes: maxBytes) {
        case .value(let value, let length):
            offset += length
            return value
        case .truncated:
            throw error(.truncated, "truncated: varint \(what) at byte \(base + start) runs past the end (\(bytes.count - start) bytes remain)")
        case .overlong:
            throw error(.malformed, "varint \(what) at byte \(base + start) is longer than \(maxBytes) bytes or overflows \(maxBytes == Varint.maxBytes32 ? 32 : 64) bits")
        }
    }

    /// Reads an unsigned varint that must fit 32 bits (LevelDB's lengths and restart counts).
    public mutating func readVarint32(what: String) throws -> UInt32 {
        UInt32(try readVarint(what: what, maxBytes: Varint.maxBytes32))
    }

    /// Reads a varint that is a size or an offset: at most `limit` (default `Int.max`), as an `Int`.
    public mutating func readVarintSize(what: String, limit: Int = Int.max) throws -> Int {
        let start = offset
        let value = try readVarint(what: what)
        guard value <= UInt64(limit) else {
            throw error(.limit, "\(what) \(value) at byte \(base + start) exceeds \(limit)")
        }
        return Int(value)
    }
}

/// Unsigned LEB128 varints, as protobuf and LevelDB/TensorFlow tables write them.
public enum Varint {
    /// Longest encoding of a 64-bit value.
    public static let maxBytes64 = 10
    /// Longest encoding of a 32-bit value.
    public static let maxBytes32 = 5

    /// Result of decoding at an offset.
    public enum Decoded: Equatable {
        /// The value and the number of bytes it took.
        case value(UInt64, length: Int)
        /// The bytes end before the last byte of the varint.
        case truncated
        /// More than `maxBytes` bytes, or bits beyond the type's width.
        case overlong
    }

    /// Decodes the varint at `offset` of `bytes`, taking at most `maxBytes` bytes.
    public static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int, maxBytes: Int = maxBytes64) -> Decoded {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        let width: UInt64 = maxBytes == maxBytes32 ? 32 : 64
        for i in 0..<maxBytes {
            guard offset >= 0, offset + i < bytes.count else { return .truncated }
            let byte = UInt64(bytes[offset + i])
            let payload = byte & 0x7F
            // The last byte may carry only the bits that are left of the type's width.
            if shift + 7 > width, payload >> (width - shift) != 0 { return .overlong }
            value |= payload << shift
            if byte & 0x80 == 0 { return .value(value, length: i + 1) }
            shift += 7
        }
        return .overlong
    }

    /// Appends the encoding of `value` to `output`.
    public static func encode(_ value: UInt64, into output: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            output.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        output.append(UInt8(v))
    }

    /// The encoding of `value`.
    public static func encoded(_ value: UInt64) -> [UInt8] {
        var output: [UInt8] = []
        encode(value, into: &output)
        return output
    }
}
