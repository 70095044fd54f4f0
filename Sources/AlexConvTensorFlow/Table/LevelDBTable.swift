import AlexConvCore

// The table format of TensorFlow's `.index` files: LevelDB's, as TensorFlow keeps it in
// tensorflow/tsl/lib/io (table_format.txt, format.cc, block.cc, block_builder.cc, table_builder.cc).
//
//   [data block 1][trailer] ... [data block N][trailer] [metaindex block][trailer] [index block][trailer] [footer]
//   trailer: 1 byte compression type (0 none, 1 snappy) + u32 LE masked CRC-32C of block + type byte
//   block:   entries, then u32 LE restart offsets, then u32 LE restart count
//   entry:   varint32 shared key bytes, varint32 unshared key bytes, varint32 value length,
//            the unshared key bytes, the value
//   index block values: block handles (varint64 offset, varint64 size) of the data blocks
//   footer (48 bytes): metaindex handle, index handle, zero padding to 40 bytes, u64 LE magic

/// A block's place in the file: `size` bytes at `offset`, followed by its 5-byte trailer.
struct BlockHandle: Equatable {
    var offset: Int
    var size: Int

    /// Encoded length limit of one handle (two varint64s).
    static let maxEncodedBytes = 20

    /// Reads a handle (two varint64s) at the cursor's position.
    init(_ cursor: inout ByteCursor, what: String) throws {
        offset = try cursor.readVarintSize(what: "\(what) offset")
        size = try cursor.readVarintSize(what: "\(what) size")
    }

    init(offset: Int, size: Int) {
        self.offset = offset
        self.size = size
    }

    /// The handle's encoding.
    var encoded: [UInt8] { Varint.encoded(UInt64(offset)) + Varint.encoded(UInt64(size)) }
}

/// One key/value pair of a table. The value views the table's bytes (valid while they are).
struct TableEntry {
    var key: [UInt8]
    var value: UnsafeRawBufferPointer
}

/// Reads every entry of a LevelDB-format table (TensorFlow `.index`) in key order, checking each
/// block's checksum and every length against the bytes. Values are views of `bytes`, not copies.
struct LevelDBTable {
    /// `kTableMagicNumber`: the first 64 bits of sha1("http://code.google.com/p/leveldb/").
    static let magic: UInt64 = 0xDB47_7524_8B80_FB57
    /// Footer size: two block handles padded to 40 bytes, then the magic.
    static let footerBytes = 48
    /// Block trailer: compression type byte + masked CRC-32C.
    static let trailerBytes = 5
    /// Compression type bytes.
    static let noCompression: UInt8 = 0
    static let snappyCompression: UInt8 = 1

    /// Entries in file order (strictly increasing keys).
    let entries: [TableEntry]
    /// The index block's handle (where the table's directory is), for messages and tests.
    let indexHandle: BlockHandle

    /// Parses the table in `bytes` (the whole `.index` file); errors name `file` and the block or entry.
    init(bytes: UnsafeRawBufferPointer, file: String?) throws {
        let whole = ByteCursor(bytes, file: file, label: "table")
        guard bytes.count <= TensorFlowLimits.maxIndexBytes else {
            throw whole.error(.limit, "index of \(bytes.count) bytes exceeds the limit of \(TensorFlowLimits.maxIndexBytes) bytes")
        }
        guard bytes.count >= Self.footerBytes else {
            throw whole.error(.truncated, "truncated: \(bytes.count) bytes, a TensorFlow .index file ends in a 48-byte footer")
        }
        let footerStart = bytes.count - Self.footerBytes
        let footer = try whole.record(at: footerStart, count: Self.footerBytes, label: "table footer at byte \(footerStart)")
        let found = try footer.integer(UInt64.self, at: 40, what: "magic")
        guard found == Self.magic else {
            throw footer.error(.malformed, "the last 8 bytes are 0x\(String(found, radix: 16)), not the table magic 0xdb4775248b80fb57 (truncated, or not a TensorFlow .index file)")
        }
        var handles = try footer.record(at: 0, count: 40, label: "table footer block handles at byte \(footerStart)")
        let metaindex = try BlockHandle(&handles, what: "metaindex handle")
        let index = try BlockHandle(&handles, what: "index handle")
        indexHandle = index

        let blockRegion = try whole.record(at: 0, count: footerStart, label: "table blocks")
        _ = try Self.block(metaindex, in: blockRegion, what: "metaindex block")
        let indexBlock = try Self.block(index, in: blockRegion, what: "index block")
        var entries: [TableEntry] = []
        var previous: [UInt8]?
        for (n, indexEntry) in try Self.entries(of: indexBlock, what: "index block").enumerated() {
            var value = ByteCursor(indexEntry.value, file: file, label: "index block entry \(n) block handle", base: 0)
            let handle = try BlockHandle(&value, what: "data block \(n) handle")
            let data = try Self.block(handle, in: blockRegion, what: "data block \(n)")
            for entry in try Self.entries(of: data, what: "data block \(n)") {
                if let previous, !Self.less(previous, entry.key) {
                    throw data.error(.corrupted, "key \(Self.describe(entry.key)) follows \(Self.describe(previous)): table keys must be strictly increasing (duplicate or unsorted entry)")
                }
                guard entries.count < TensorFlowLimits.maxEntries else {
                    throw data.error(.limit, "more than \(TensorFlowLimits.maxEntries) entries")
                }
                previous = entry.key
                entries.append(entry)
            }
        }
        self.entries = entries
    }

    // MARK: - Blocks

    /// The contents of the block at `handle` (without its trailer), after checking that it and its
    /// trailer lie inside `region`, its compression type and its checksum.
    static func block(_ handle: BlockHandle, in region: ByteCursor, what: String) throws -> ByteCursor {
        let (withTrailer, overflow) = handle.size.addingReportingOverflow(trailerBytes)
        let (end, overflow2) = handle.offset.addingReportingOverflow(withTrailer)
        guard !overflow, !overflow2, end <= region.count else {
            throw region.error(
                .corrupted, "\(what) at bytes \(handle.offset)..<\(overflow || overflow2 ? Int.max : end) (with its 5-byte trailer) lies outside the \(region.count) bytes before the footer")
        }
        let contents = try region.record(at: handle.offset, count: handle.size, label: "\(what) at byte \(handle.offset)")
        let type = try region.byte(at: handle.offset + handle.size, what: "\(what) compression type")
        let stored = try region.integer(UInt32.self, at: handle.offset + handle.size + 1, what: "\(what) checksum")
        let actual = CRC32C.checksum(try region.slice(at: handle.offset, count: handle.size + 1, what: what))
        guard CRC32C.unmask(stored) == actual else {
            throw contents.error(.corrupted, String(format: "checksum mismatch: the trailer says CRC-32C %08x, the block's bytes give %08x", CRC32C.unmask(stored), actual))
        }
        switch type {
        case noCompression: return contents
        case snappyCompression:
            throw contents.error(
                .unsupported,
                "block is snappy-compressed (compression type 1); alexconv reads uncompressed tables, which is how TensorFlow writes checkpoint indexes (re-save the checkpoint with TensorFlow)")
        default:
            throw contents.error(.corrupted, "unknown compression type \(type) (0 is none, 1 snappy)")
        }
    }

    /// The entries of one block, with prefix-compressed keys expanded.
    static func entries(of block: ByteCursor, what: String) throws -> [TableEntry] {
        guard block.count >= 4 else {
            throw block.error(.truncated, "truncated: \(block.count) bytes, a block ends in a 4-byte restart count")
        }
        let restartCount = Int(try block.integer(UInt32.self, at: block.count - 4, what: "restart count"))
        let maxRestarts = (block.count - 4) / 4
        guard restartCount <= maxRestarts else {
            throw block.error(.corrupted, "restart count \(restartCount) needs \(4 * restartCount + 4) bytes, the block has \(block.count)")
        }
        let restartsStart = block.count - 4 * (restartCount + 1)
        for r in 0..<restartCount {
            let restart = Int(try block.integer(UInt32.self, at: restartsStart + 4 * r, what: "restart offset \(r)"))
            guard restart < restartsStart || (restart == 0 && restartsStart == 0) else {
                throw block.error(.corrupted, "restart offset \(r) is \(restart), past the \(restartsStart) bytes of entries")
            }
        }
        var cursor = try block.record(at: 0, count: restartsStart, label: "\(block.label) entries").relabeled(block.label)
        var result: [TableEntry] = []
        var key: [UInt8] = []
        while !cursor.isAtEnd {
            let at = cursor.base + cursor.offset
            let shared = Int(try cursor.readVarint32(what: "shared key length"))
            let unshared = Int(try cursor.readVarint32(what: "unshared key length"))
            let valueLength = Int(try cursor.readVarint32(what: "value length"))
            guard shared <= key.count else {
                throw cursor.error(.corrupted, "entry at byte \(at) shares \(shared) key bytes with a previous key of \(key.count)")
            }
            guard shared + unshared <= TensorFlowLimits.maxKeyBytes else {
                throw cursor.error(.limit, "entry at byte \(at) has a key of \(shared + unshared) bytes, more than \(TensorFlowLimits.maxKeyBytes)")
            }
            let suffix = try cursor.readBytes(unshared, what: "key of the entry at byte \(at)")
            key.removeSubrange(shared...)
            key.append(contentsOf: suffix)
            let value = try cursor.readBytes(valueLength, what: "value of the entry at byte \(at)")
            result.append(TableEntry(key: key, value: value))
        }
        return result
    }

    // MARK: - Keys

    /// Bytewise order, as TensorFlow's table comparator.
    static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    /// A key for messages: its text when printable UTF-8, else hex.
    static func describe(_ key: [UInt8]) -> String {
        if let text = String(validating: key, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return "'\(text)'"
        }
        return "0x" + key.prefix(64).map { String(format: "%02x", $0) }.joined() + (key.count > 64 ? "..." : "")
    }
}

// MARK: - Writing

/// Builds a LevelDB-format table as TensorFlow's `TableBuilder` does for tensor bundles: no
/// compression, blocks of up to `blockBytes` with a restart point every 16 entries, an empty
/// metaindex block, an index block whose keys are each data block's last key.
struct LevelDBTableBuilder {
    /// TensorFlow's `table::Options` defaults for tensor bundles.
    static let blockBytes = 262_144
    static let restartInterval = 16

    private(set) var bytes: [UInt8] = []
    private var block = BlockBuilder()
    private var index = BlockBuilder()
    private var lastKey: [UInt8]?

    /// Adds an entry; keys must come in strictly increasing bytewise order.
    mutating func add(key: [UInt8], value: [UInt8]) {
        if let lastKey { precondition(LevelDBTable.less(lastKey, key), "table keys must be added in increasing order") }
        block.add(key: key, value: value)
        lastKey = key
        if block.estimatedBytes >= Self.blockBytes { flushDataBlock() }
    }

    /// The finished table: data blocks, metaindex, index, footer.
    mutating func finish() -> [UInt8] {
        flushDataBlock()
        var empty = BlockBuilder()
        let metaindex = writeBlock(empty.finish())
        let indexHandle = writeBlock(index.finish())
        var footer = metaindex.encoded + indexHandle.encoded
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        withUnsafeBytes(of: LevelDBTable.magic.littleEndian) { footer.append(contentsOf: $0) }
        bytes += footer
        return bytes
    }

    private mutating func flushDataBlock() {
        guard !block.isEmpty, let lastKey else { return }
        let handle = writeBlock(block.finish())
        block = BlockBuilder()
        index.add(key: lastKey, value: handle.encoded)
    }

    private mutating func writeBlock(_ contents: [UInt8]) -> BlockHandle {
        let handle = BlockHandle(offset: bytes.count, size: contents.count)
        bytes += contents
        bytes.append(LevelDBTable.noCompression)
        let crc = CRC32C.mask(CRC32C.checksum(contents + [LevelDBTable.noCompression]))
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        return handle
    }

    /// One block: prefix-compressed entries with restart points.
    struct BlockBuilder {
        private var buffer: [UInt8] = []
        private var restarts: [UInt32] = [0]
        private var counter = 0
        private var lastKey: [UInt8] = []
        var isEmpty: Bool { buffer.isEmpty }
        var estimatedBytes: Int { buffer.count + 4 * restarts.count + 4 }

        mutating func add(key: [UInt8], value: [UInt8]) {
            var shared = 0
            if counter < LevelDBTableBuilder.restartInterval {
                while shared < min(lastKey.count, key.count) && lastKey[shared] == key[shared] { shared += 1 }
            } else {
                restarts.append(UInt32(buffer.count))
                counter = 0
            }
            Varint.encode(UInt64(shared), into: &buffer)
            Varint.encode(UInt64(key.count - shared), into: &buffer)
            Varint.encode(UInt64(value.count), into: &buffer)
            buffer += key[shared...]
            buffer += value
            lastKey = key
            counter += 1
        }

        mutating func finish() -> [UInt8] {
            var out = buffer
            for restart in restarts { withUnsafeBytes(of: restart.littleEndian) { out.append(contentsOf: $0) } }
            withUnsafeBytes(of: UInt32(restarts.count).littleEndian) { out.append(contentsOf: $0) }
            return out
        }
    }
}
