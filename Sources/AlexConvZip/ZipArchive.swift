import AlexConvCore
import CSystemZlib
import Foundation

// Why a zip reader of its own (and not ZIPFoundation): ZIPFoundation hands an entry's bytes out in
// 16 KiB `Data` chunks through a consumer closure, keeps the entry's data offset internal and
// checksums by default. torch archives store every tensor storage as a 64-byte aligned STORED
// entry precisely so that readers can map it; this reader gives those entries out as zero-copy
// views of the file's memory map and inflates only DEFLATED entries (npz from `savez_compressed`)
// with the system zlib (CSystemZlib).

// MARK: - Limits

/// Limits the zip reader enforces on sizes taken from a file (zip bombs, hostile archives).
public enum ZipLimits {
    /// Most entries an archive may list.
    public static let maxEntries = 200_000
    /// Largest uncompressed size of one DEFLATED entry (inflated into memory).
    public static let maxInflatedEntryBytes = 8 << 30
    /// Largest sum of uncompressed sizes of all DEFLATED entries of one archive.
    public static let maxInflatedTotalBytes = 32 << 30
    /// Largest uncompressed/compressed ratio of a DEFLATED entry. Deflate cannot exceed ~1032:1,
    /// so a larger declared ratio is a forged size.
    public static let maxCompressionRatio = 1_100
    /// How far from the end of the file the end-of-central-directory record may start
    /// (22-byte record + the largest comment).
    public static let maxEndRecordSearch = 22 + 0xFFFF
    /// Longest entry name.
    public static let maxNameBytes = 0xFFFF
}

// MARK: - Entries

/// How an entry's bytes are stored.
public enum ZipCompression: Equatable, Sendable {
    case stored
    case deflated
    /// A method this reader does not decode (the raw zip method number).
    case other(UInt16)

    init(method: UInt16) {
        switch method {
        case 0: self = .stored
        case 8: self = .deflated
        default: self = .other(method)
        }
    }

    var methodNumber: UInt16 {
        switch self {
        case .stored: return 0
        case .deflated: return 8
        case .other(let m): return m
        }
    }
}

/// One file of a zip archive, as the central directory and its local header describe it.
public struct ZipEntry: Equatable, Sendable {
    /// Name inside the archive (UTF-8), e.g. `archive/data/0`.
    public let name: String
    public let compression: ZipCompression
    /// Bytes the entry occupies in the file (== `uncompressedSize` when stored).
    public let compressedSize: Int
    public let uncompressedSize: Int
    /// CRC-32 of the uncompressed bytes, from the central directory.
    public let crc32: UInt32
    /// Offset of the entry's local header in the file.
    public let localHeaderOffset: Int
    /// Offset of the entry's first data byte in the file (after the local header and its extra
    /// field, which may differ in length from the central one: torch's `FB` padding).
    public let dataOffset: Int
    /// General-purpose flags (bit 3: data descriptor follows the data).
    public let flags: UInt16

    /// The file byte range holding the entry's (possibly compressed) data.
    public var dataRange: Range<Int> { dataOffset..<(dataOffset + compressedSize) }
}

// MARK: - Archive

/// A zip archive read through its central directory over a memory map (or any `ByteStorage`).
///
/// Stored entries are handed out as zero-copy views of the storage; deflated entries are
/// inflated into owned memory. Zip64 end records and extra fields are understood. Every offset
/// and size is checked against the file, entries may not overlap each other or the central
/// directory, and names must be unique.
public final class ZipArchive: @unchecked Sendable {
    /// Path shown in errors.
    public let path: String
    /// The archive's bytes.
    public let storage: ByteStorage
    /// Entries in central-directory order.
    public let entries: [ZipEntry]
    /// The inflate implementation: the system zlib, through the CSystemZlib module.
    public static let inflateBackend = "zlib"
    private let index: [String: Int]

    /// Maps `path` and reads its central directory.
    public convenience init(path: String) throws {
        let storage = try ByteStorage.map(path: path)
        try self.init(storage: storage, path: path)
    }

    /// Reads the central directory of the zip held by `storage`; errors name `path`.
    public init(storage: ByteStorage, path: String) throws {
        self.path = path
        self.storage = storage
        let entries = try withFileContext(path) { try ZipArchive.readEntries(ByteCursor(storage.bytes, file: path, label: "")) }
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() {
            if index.updateValue(i, forKey: entry.name) != nil {
                throw FormatError(.corrupted, file: path, location: "zip entry '\(entry.name)'", "appears twice in the central directory")
            }
        }
        self.entries = entries
        self.index = index
    }

    /// True when `prefix` starts with a zip local file header (or is an empty archive).
    public static func looksLike(_ prefix: UnsafeRawBufferPointer) -> Bool {
        guard let signature = try? ByteCursor(prefix, label: "zip signature").integer(UInt32.self, at: 0, what: "signature") else {
            return false
        }
        return signature == Signature.localHeader || signature == Signature.endOfCentralDirectory
    }

    /// The entry called `name`, if any.
    public func entry(named name: String) -> ZipEntry? {
        index[name].map { entries[$0] }
    }

    /// The entry called `name`, if any.
    public subscript(name: String) -> ZipEntry? { entry(named: name) }

    /// The entry's uncompressed bytes: a zero-copy view of the archive for STORED entries, an
    /// inflated owned buffer (CRC-checked) for DEFLATED ones. The stored view is not CRC-checked
    /// (call `verifyChecksum(of:)` for that): a 244 MB checkpoint would otherwise be read twice.
    public func bytes(of entry: ZipEntry) throws -> ByteStorage {
        do {
            switch entry.compression {
            case .stored:
                let view = try ByteCursor(storage.bytes, label: "").slice(at: entry.dataOffset, count: entry.compressedSize, what: "data")
                return ByteStorage(viewing: view, keepingAlive: storage)
            case .deflated:
                return try inflate(entry)
            case .other(let method):
                throw FormatError(.unsupported, "compression method \(method) is not supported (expected 0 stored or 8 deflated)")
            }
        } catch var error as FormatError {
            if error.location == nil { error.location = "zip entry '\(entry.name)'" }
            throw error.inFile(path)
        }
    }

    /// The bytes of the entry called `name`; a `FormatError` naming it when it is missing.
    public func bytes(named name: String) throws -> ByteStorage {
        guard let entry = entry(named: name) else {
            throw FormatError(.malformed, file: path, location: "zip entry '\(name)'", "missing from the archive")
        }
        return try bytes(of: entry)
    }

    /// Checks the entry's bytes against its CRC-32; throws a `FormatError` naming it on mismatch.
    public func verifyChecksum(of entry: ZipEntry) throws {
        let data = try bytes(of: entry)
        let actual = CRC32.checksum(data.bytes)
        if actual != entry.crc32 {
            throw FormatError(
                .corrupted, file: path, location: "zip entry '\(entry.name)'",
                "CRC-32 mismatch: expected \(hex(entry.crc32)), found \(hex(actual))")
        }
    }

    // MARK: - Inflating

    private func inflate(_ entry: ZipEntry) throws -> ByteStorage {
        let compressed = try ByteCursor(storage.bytes, label: "").slice(at: entry.dataOffset, count: entry.compressedSize, what: "data")
        try AllocationBudget.charge(entry.uncompressedSize, what: "zip entry '\(entry.name)'")
        let (owned, buffer) = ByteStorage.zeroed(count: entry.uncompressedSize)
        let produced = try ZipArchive.rawInflate(compressed, into: buffer)
        if produced != entry.uncompressedSize {
            throw FormatError(.corrupted, "inflated to \(produced) bytes, the directory says \(entry.uncompressedSize)")
        }
        let actual = CRC32.checksum(UnsafeRawBufferPointer(buffer))
        if actual != entry.crc32 {
            throw FormatError(.corrupted, "CRC-32 mismatch after inflating: expected \(hex(entry.crc32)), found \(hex(actual))")
        }
        return owned
    }

    /// Inflates raw deflate `input` into `output`; returns the bytes produced. Throws when the
    /// stream is corrupt, ends early, or would produce more than `output` holds.
    static func rawInflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FormatError(.malformed, "cannot start zlib inflate")
        }
        defer { inflateEnd(&stream) }
        var inputOffset = 0
        var outputOffset = 0
        let step = Int(UInt32.max >> 1)
        while true {
            let inputChunk = min(input.count - inputOffset, step)
            let outputChunk = min(output.count - outputOffset, step)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { ($0 + inputOffset).assumingMemoryBound(to: UInt8.self) })
            stream.avail_in = UInt32(inputChunk)
            // One spare byte of room detects a stream that would overrun the declared size.
            var spare: UInt8 = 0
            let result: Int32
            if outputChunk > 0 {
                stream.next_out = output.baseAddress.map { ($0 + outputOffset).assumingMemoryBound(to: UInt8.self) }
                stream.avail_out = UInt32(outputChunk)
                result = CSystemZlib.inflate(&stream, Z_NO_FLUSH)
            } else {
                result = withUnsafeMutablePointer(to: &spare) { pointer in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    return CSystemZlib.inflate(&stream, Z_NO_FLUSH)
                }
                if stream.avail_out == 0 {
                    throw FormatError(.corrupted, "deflate stream inflates to more than the declared \(output.count) bytes")
                }
            }
            inputOffset += inputChunk - Int(stream.avail_in)
            if outputChunk > 0 { outputOffset += outputChunk - Int(stream.avail_out) }
            switch result {
            case Z_STREAM_END:
                return outputOffset
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                if inputOffset >= input.count {
                    throw FormatError(.truncated, "deflate stream is truncated (ends after \(outputOffset) of \(output.count) bytes)")
                }
                if outputOffset >= output.count {
                    throw FormatError(.corrupted, "deflate stream inflates to more than the declared \(output.count) bytes")
                }
                continue
            default:
                throw FormatError(.corrupted, "corrupt deflate stream (zlib error \(result)) after \(outputOffset) bytes")
            }
        }
    }

    // MARK: - Central directory

    enum Signature {
        static let localHeader: UInt32 = 0x0403_4B50
        static let centralHeader: UInt32 = 0x0201_4B50
        static let endOfCentralDirectory: UInt32 = 0x0605_4B50
        static let zip64EndOfCentralDirectory: UInt32 = 0x0606_4B50
        static let zip64Locator: UInt32 = 0x0706_4B50

        /// The four bytes of `signature` as they stand in the file (little-endian).
        static func bytes(_ signature: UInt32) -> [UInt8] { withUnsafeBytes(of: signature.littleEndian, Array.init) }
    }

    static let zip64ExtraID: UInt16 = 0x0001

    /// Reads the end records and every central directory entry of `file` (a cursor over the whole
    /// archive without a label: each record names itself in its errors).
    private static func readEntries(_ file: ByteCursor) throws -> [ZipEntry] {
        let fileSize = file.count
        let eocd = try findEndRecord(file)
        let end = try file.record(at: eocd, count: 22, label: "zip end of central directory record at byte \(eocd)")
        var entryCount = Int(try end.integer(UInt16.self, at: 10, what: "entry count"))
        var directorySize = Int(try end.integer(UInt32.self, at: 12, what: "directory size"))
        var directoryOffset = Int(try end.integer(UInt32.self, at: 16, what: "directory offset"))
        var directoryEndLimit = eocd

        // Zip64: a locator just before the end record points at the zip64 end record.
        if eocd >= 20, file.hasSignature(Signature.bytes(Signature.zip64Locator), at: eocd - 20) {
            let locator = try file.record(at: eocd - 20, count: 20, label: "zip64 end of central directory locator at byte \(eocd - 20)")
            let recordOffset64 = try locator.integer(UInt64.self, at: 8, what: "zip64 end record offset")
            guard recordOffset64 <= UInt64(eocd - 20) else {
                throw locator.error(.truncated, "zip64 end record offset \(recordOffset64) lies outside the file")
            }
            let recordStart = Int(recordOffset64)
            let record = file.relabeled("zip64 end of central directory record at byte \(recordStart)")
            guard try record.integer(UInt32.self, at: recordStart, what: "signature") == Signature.zip64EndOfCentralDirectory else {
                throw locator.error(.malformed, "no zip64 end record at offset \(recordStart) where the locator points")
            }
            let count64 = try record.integer(UInt64.self, at: recordStart + 32, what: "entry count")
            let size64 = try record.integer(UInt64.self, at: recordStart + 40, what: "directory size")
            let offset64 = try record.integer(UInt64.self, at: recordStart + 48, what: "directory offset")
            guard count64 <= UInt64(ZipLimits.maxEntries) else {
                throw record.error(.limit, "archive lists \(count64) entries, more than the limit \(ZipLimits.maxEntries)")
            }
            guard size64 <= UInt64(fileSize), offset64 <= UInt64(fileSize) else {
                throw record.error(.truncated, "zip64 central directory (offset \(offset64), size \(size64)) lies outside the file of \(fileSize) bytes")
            }
            entryCount = Int(count64)
            directorySize = Int(size64)
            directoryOffset = Int(offset64)
            directoryEndLimit = recordStart
        }
        guard entryCount <= ZipLimits.maxEntries else {
            throw end.error(.limit, "archive lists \(entryCount) entries, more than the limit \(ZipLimits.maxEntries)")
        }
        guard directoryOffset <= directoryEndLimit, directorySize <= directoryEndLimit - directoryOffset else {
            throw end.error(.truncated, "central directory (offset \(directoryOffset), size \(directorySize)) overlaps the end records or lies outside the file of \(fileSize) bytes")
        }

        // The directory as a record of its own: no entry can read past its end.
        let directory = try file.record(at: directoryOffset, count: directorySize, label: "")
        var entries: [ZipEntry] = []
        entries.reserveCapacity(entryCount)
        var position = 0
        var inflatedTotal = 0
        for ordinal in 0..<entryCount {
            // The label is made only for an error (formatting one per entry costs more than reading it).
            let entry = try withLocation("zip central directory entry \(ordinal) at byte \(directoryOffset + position)") {
                guard position <= directory.count - 46 else {
                    throw FormatError(.malformed, "central directory ends after \(ordinal) of \(entryCount) entries")
                }
                return try readCentralHeader(in: directory, at: &position, file: file, directoryStart: directoryOffset)
            }
            if entry.compression == .deflated {
                inflatedTotal += entry.uncompressedSize
                if inflatedTotal > ZipLimits.maxInflatedTotalBytes {
                    throw FormatError(
                        .limit, location: "zip entry '\(entry.name)'",
                        "compressed entries inflate to more than \(ZipLimits.maxInflatedTotalBytes) bytes in total")
                }
            }
            entries.append(entry)
        }
        try checkNoOverlaps(entries, directoryStart: directoryOffset)
        return entries
    }

    /// Offset of the end-of-central-directory record: the last signature, within the largest
    /// comment's reach of the end, whose comment fits in the file.
    private static func findEndRecord(_ file: ByteCursor) throws -> Int {
        let size = file.count
        guard size >= 22 else {
            throw FormatError(.malformed, "not a zip archive: \(size) bytes is shorter than an end-of-central-directory record")
        }
        let lowest = max(0, size - ZipLimits.maxEndRecordSearch)
        var offset = size - 22
        while offset >= lowest {
            if try file.integer(UInt32.self, at: offset, what: "end record signature") == Signature.endOfCentralDirectory {
                let commentLength = Int(try file.integer(UInt16.self, at: offset + 20, what: "end record comment length"))
                if offset + 22 + commentLength <= size { return offset }
            }
            offset -= 1
        }
        throw FormatError(.limit, "not a zip archive or truncated: no end-of-central-directory record in the last \(min(size, ZipLimits.maxEndRecordSearch)) bytes")
    }

    /// Reads the central directory header at `position` of `directory` (moving past it) and the
    /// entry's local header in `file`.
    private static func readCentralHeader(
        in directory: ByteCursor, at position: inout Int, file: ByteCursor,
        directoryStart: Int
    ) throws -> ZipEntry {
        let start = position
        guard try directory.integer(UInt32.self, at: start, what: "signature") == Signature.centralHeader else {
            throw FormatError(.malformed, "bad central directory header signature at offset \(directoryStart + start)")
        }
        let flags = try directory.integer(UInt16.self, at: start + 8, what: "flags")
        let method = try directory.integer(UInt16.self, at: start + 10, what: "compression method")
        let crc = try directory.integer(UInt32.self, at: start + 16, what: "CRC-32")
        var compressed = UInt64(try directory.integer(UInt32.self, at: start + 20, what: "compressed size"))
        var uncompressed = UInt64(try directory.integer(UInt32.self, at: start + 24, what: "uncompressed size"))
        let nameLength = Int(try directory.integer(UInt16.self, at: start + 28, what: "name length"))
        let extraLength = Int(try directory.integer(UInt16.self, at: start + 30, what: "extra field length"))
        let commentLength = Int(try directory.integer(UInt16.self, at: start + 32, what: "comment length"))
        var localOffset = UInt64(try directory.integer(UInt32.self, at: start + 42, what: "local header offset"))
        let headerEnd = start + 46 + nameLength + extraLength + commentLength
        guard headerEnd <= directory.count else {
            throw FormatError(.truncated, "central directory header at offset \(directoryStart + start) runs past the directory's end")
        }
        let nameBytes = try directory.slice(at: start + 46, count: nameLength, what: "entry name")
        let name = String(decoding: nameBytes, as: UTF8.self)
        let location = "zip entry '\(name)'"

        // Zip64 extra field: only the fields whose 32-bit value is saturated, in fixed order.
        try withLocation("\(location) extra field") {
            let extra = try directory.record(at: start + 46 + nameLength, count: extraLength, label: "")
            if var zip64 = try findExtraField(zip64ExtraID, in: extra) {
                if uncompressed == 0xFFFF_FFFF { uncompressed = try zip64.read(UInt64.self, what: "zip64 uncompressed size") }
                if compressed == 0xFFFF_FFFF { compressed = try zip64.read(UInt64.self, what: "zip64 compressed size") }
                if localOffset == 0xFFFF_FFFF { localOffset = try zip64.read(UInt64.self, what: "zip64 local header offset") }
            }
        }
        if flags & 0x0001 != 0 {
            throw FormatError(.unsupported, location: location, "is encrypted; encrypted archives are not supported")
        }
        let fileSize = UInt64(file.count)
        guard compressed <= fileSize, localOffset < UInt64(directoryStart) else {
            throw FormatError(.truncated, location: location, "data (offset \(localOffset), \(compressed) bytes) lies outside the file's entry area of \(directoryStart) bytes")
        }
        let compression = ZipCompression(method: method)
        switch compression {
        case .stored:
            guard compressed == uncompressed else {
                throw FormatError(.malformed, location: location, "stored entry has compressed size \(compressed) but uncompressed size \(uncompressed)")
            }
        case .deflated:
            guard uncompressed <= UInt64(ZipLimits.maxInflatedEntryBytes) else {
                throw FormatError(.limit, location: location, "inflates to \(uncompressed) bytes, more than the limit \(ZipLimits.maxInflatedEntryBytes)")
            }
            guard uncompressed <= max(compressed, 1) * UInt64(ZipLimits.maxCompressionRatio) else {
                throw FormatError(
                    .limit, location: location, "declares \(uncompressed) bytes from \(compressed) compressed: a ratio above \(ZipLimits.maxCompressionRatio):1 is not deflate (zip bomb?)")
            }
        case .other:
            break
        }

        // The local header: its name and extra field lengths decide where the data starts.
        let local = Int(localOffset)
        let (localName, dataOffset) = try withLocation("\(location) local header at byte \(local)") {
            guard try file.integer(UInt32.self, at: local, what: "signature") == Signature.localHeader else {
                throw FormatError(.malformed, location: location, "no local file header at offset \(local)")
            }
            let nameLength = Int(try file.integer(UInt16.self, at: local + 26, what: "name length"))
            let extraLength = Int(try file.integer(UInt16.self, at: local + 28, what: "extra field length"))
            return (try file.slice(at: local + 30, count: nameLength, what: "name"), local + 30 + nameLength + extraLength)
        }
        guard localName.elementsEqual(nameBytes) else {
            throw FormatError(.corrupted, location: location, "local header names '\(String(decoding: localName, as: UTF8.self))', the central directory '\(name)'")
        }
        let size = Int(compressed)
        guard dataOffset <= directoryStart, size <= directoryStart - dataOffset else {
            throw FormatError(.truncated, location: location, "data (bytes \(dataOffset)..<\(dataOffset + size)) runs past the entry area into the central directory at \(directoryStart)")
        }
        position = headerEnd
        return ZipEntry(
            name: name, compression: compression, compressedSize: size,
            uncompressedSize: Int(uncompressed), crc32: crc, localHeaderOffset: local,
            dataOffset: dataOffset, flags: flags)
    }

    /// A cursor over the payload of the extra field `id` within the extra block `extra`, if present.
    private static func findExtraField(_ id: UInt16, in extra: ByteCursor) throws -> ByteCursor? {
        var fields = extra
        while fields.remaining >= 4 {
            let fieldID = try fields.read(UInt16.self, what: "extra field id")
            let length = Int(try fields.read(UInt16.self, what: "extra field length"))
            guard length <= fields.remaining else {
                throw fields.error(.truncated, "extra field 0x\(String(fieldID, radix: 16)) runs past the extra block")
            }
            let field = try fields.readRecord(length, label: extra.label)
            if fieldID == id { return field }
        }
        return nil
    }

    /// Entries (local header through data) must not overlap: overlapping entries are how
    /// "zip bombs" reuse bytes and how two names smuggle the same data.
    private static func checkNoOverlaps(_ entries: [ZipEntry], directoryStart: Int) throws {
        let spans = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        for (a, b) in zip(spans, spans.dropFirst()) {
            let aEnd = a.dataOffset + a.compressedSize
            if b.localHeaderOffset < aEnd {
                throw FormatError(
                    .corrupted, location: "zip entry '\(b.name)'",
                    "overlaps zip entry '\(a.name)' (its header at \(b.localHeaderOffset) lies inside bytes \(a.localHeaderOffset)..<\(aEnd))")
            }
        }
    }
}

func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: false) }

// MARK: - CRC-32

/// CRC-32 (ISO-HDLC, as zip uses), computed by the system zlib.
public enum CRC32 {
    /// The CRC-32 of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var value = UInt(crc)
        var offset = 0
        let step = Int(UInt32.max >> 1)
        while offset < bytes.count {
            let n = min(step, bytes.count - offset)
            value = CSystemZlib.crc32(value, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
