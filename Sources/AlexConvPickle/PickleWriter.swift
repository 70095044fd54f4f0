import AlexConvCore
import Foundation

// MARK: - Writer

/// Emits pickles using only the opcodes `torch.load(weights_only=True)` accepts (protocol 2),
/// plus BINBYTES/SHORT_BINBYTES for protocol 3 (what `np.load` reads for a pickled dict).
///
/// A small builder: each call appends one opcode or one balanced construct. Bytes can be taken
/// out as they accumulate (`takeBytes()`), so large array data can be streamed to a file between
/// `bytesHeader(count:)` and the next call.
public final class PickleWriter {
    /// Largest `bytes` value protocol 3 can hold (BINBYTES has a 32-bit length).
    public static let maxBinBytesLength = Int(UInt32.max)

    public let protocolVersion: Int
    private var buffer: [UInt8] = []
    private var nextMemoIndex = 0
    /// Bytes emitted so far, including those already taken out.
    public private(set) var totalCount = 0

    /// Starts a pickle with PROTO `protocolVersion` (2 or 3).
    public init(protocolVersion: Int = 2) {
        precondition(protocolVersion == 2 || protocolVersion == 3, "PickleWriter writes protocol 2 or 3")
        self.protocolVersion = protocolVersion
        emit(.proto, UInt8(protocolVersion))
    }

    /// The bytes emitted since the last call, removed from the writer.
    public func takeBytes() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    // MARK: Raw emission

    private func emit(_ op: PickleOpcode) {
        buffer.append(op.rawValue)
        totalCount += 1
    }

    private func emit(_ op: PickleOpcode, _ byte: UInt8) {
        emit(op)
        raw([byte])
    }

    private func raw<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        totalCount += bytes.count
    }

    private func rawLE<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { raw($0) }
    }

    /// Records `count` bytes the caller streamed to the output itself (after `bytesHeader`).
    public func noteStreamed(_ count: Int) { totalCount += count }

    // MARK: Scalars

    /// NONE.
    public func none() { emit(.none) }

    /// NEWTRUE / NEWFALSE.
    public func bool(_ value: Bool) { emit(value ? .newTrue : .newFalse) }

    /// BININT1, BININT2, BININT or LONG1, whichever is shortest.
    public func int(_ value: Int) {
        if value >= 0 && value <= 0xFF {
            emit(.binInt1, UInt8(value))
        } else if value >= 0 && value <= 0xFFFF {
            emit(.binInt2)
            rawLE(UInt16(value))
        } else if let small = Int32(exactly: value) {
            emit(.binInt)
            rawLE(small)
        } else {
            // Minimal two's complement, little-endian.
            var bytes: [UInt8] = withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) }
            while bytes.count > 1 {
                let last = bytes[bytes.count - 1]
                let previous = bytes[bytes.count - 2]
                if (last == 0 && previous & 0x80 == 0) || (last == 0xFF && previous & 0x80 != 0) { bytes.removeLast() } else { break }
            }
            emit(.long1, UInt8(bytes.count))
            raw(bytes)
        }
    }

    /// BINFLOAT (big-endian IEEE double).
    public func float(_ value: Double) {
        emit(.binFloat)
        withUnsafeBytes(of: value.bitPattern.bigEndian) { raw($0) }
    }

    /// BINUNICODE: a Python 3 str.
    public func string(_ text: String) {
        let utf8 = Array(text.utf8)
        emit(.binUnicode)
        rawLE(UInt32(utf8.count))
        raw(utf8)
    }

    /// A `bytes` value: SHORT_BINBYTES/BINBYTES under protocol 3; under protocol 2
    /// `_codecs.encode(<latin-1 text>, 'latin1')`, as Python 3 writes bytes there.
    public func bytes(_ data: [UInt8]) throws {
        if protocolVersion >= 3 {
            try bytesHeader(count: data.count)
            raw(data)
        } else {
            global(module: "_codecs", name: "encode")
            emit(.binUnicode)
            let text = String(String.UnicodeScalarView(data.map { Unicode.Scalar($0) }))
            let utf8 = Array(text.utf8)
            rawLE(UInt32(utf8.count))
            raw(utf8)
            string("latin1")
            emit(.tuple2)
            emit(.reduce)
        }
    }

    /// The opcode and length of a `bytes` value of `count` bytes (protocol 3); the caller writes
    /// the data itself (after `takeBytes()`), then calls `noteStreamed(count)`.
    public func bytesHeader(count: Int) throws {
        guard protocolVersion >= 3 else { throw FormatError(.malformed, "bytes values need pickle protocol 3 (this writer is protocol \(protocolVersion))") }
        guard count >= 0, count <= Self.maxBinBytesLength else {
            throw FormatError(.limit, "a bytes value of \(count) bytes exceeds the protocol 3 limit of \(Self.maxBinBytesLength)")
        }
        if count < 256 {
            emit(.shortBinBytes, UInt8(count))
        } else {
            emit(.binBytes)
            rawLE(UInt32(count))
        }
    }

    // MARK: Structure

    /// MARK.
    public func mark() { emit(.mark) }
    /// TUPLE: the values since the last MARK.
    public func tupleFromMark() { emit(.tuple) }
    /// EMPTY_TUPLE.
    public func emptyTuple() { emit(.emptyTuple) }
    /// TUPLE1/TUPLE2/TUPLE3: the top 1-3 values as a tuple.
    public func tuple(ofLast count: Int) {
        precondition((1...3).contains(count), "TUPLE1-3 take 1 to 3 values")
        emit(count == 1 ? .tuple1 : count == 2 ? .tuple2 : .tuple3)
    }
    /// EMPTY_LIST.
    public func emptyList() { emit(.emptyList) }
    /// APPEND: pops a value onto the list below it.
    public func append() { emit(.append) }
    /// APPENDS: the values since the last MARK onto the list below the MARK.
    public func appends() { emit(.appends) }
    /// EMPTY_DICT.
    public func emptyDict() { emit(.emptyDict) }
    /// SETITEM: pops key and value into the dict below them.
    public func setItem() { emit(.setItem) }
    /// SETITEMS: key/value pairs since the last MARK into the dict below the MARK.
    public func setItems() { emit(.setItems) }
    /// GLOBAL module\nname\n.
    public func global(module: String, name: String) {
        emit(.global)
        raw(Array(module.utf8))
        raw([0x0A])
        raw(Array(name.utf8))
        raw([0x0A])
    }
    /// REDUCE: callable(*args) with the two top values.
    public func reduce() { emit(.reduce) }
    /// BUILD: sets the top value as the state of the object below it.
    public func build() { emit(.build) }
    /// BINPERSID: the top value becomes a persistent id.
    public func persistentID() { emit(.binPersID) }
    /// STOP: ends the pickle.
    public func stop() { emit(.stop) }

    /// BINPUT/LONG_BINPUT of the top value under the next memo index, which is returned.
    @discardableResult
    public func memoize() -> Int {
        let index = nextMemoIndex
        nextMemoIndex += 1
        if index <= 0xFF {
            emit(.binPut, UInt8(index))
        } else {
            emit(.longBinPut)
            rawLE(UInt32(index))
        }
        return index
    }

    /// BINGET/LONG_BINGET of a memo index returned by `memoize()`.
    public func get(_ index: Int) {
        if index <= 0xFF {
            emit(.binGet, UInt8(index))
        } else {
            emit(.longBinGet)
            rawLE(UInt32(index))
        }
    }

    // MARK: Balanced constructs

    /// A tuple of whatever `items` emits: EMPTY_TUPLE, or MARK ... TUPLE.
    public func tuple(_ items: () throws -> Void) rethrows {
        mark()
        try items()
        tupleFromMark()
    }

    /// A list of whatever `items` emits: EMPTY_LIST, MARK ... APPENDS.
    public func list(_ items: () throws -> Void) rethrows {
        emptyList()
        mark()
        try items()
        appends()
    }

    /// A dict of the key/value pairs `pairs` emits: EMPTY_DICT, MARK ... SETITEMS.
    public func dict(_ pairs: () throws -> Void) rethrows {
        emptyDict()
        mark()
        try pairs()
        setItems()
    }

    /// `module.name(*arguments)`: GLOBAL, a tuple of what `arguments` emits, REDUCE.
    public func call(module: String, name: String, _ arguments: () throws -> Void) rethrows {
        global(module: module, name: name)
        try tuple(arguments)
        reduce()
    }
}
