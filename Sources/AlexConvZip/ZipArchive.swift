import Foundation
import AlexConvCore
#if canImport(CZlib)
import CZlib
#else
import ZIPFoundation
#endif

// Why not ZIPFoundation for reading: it hands an entry's bytes out in 16 KiB `Data` chunks through
// a consumer closure, keeps the entry's data offset internal and checksums by default. torch
// archives store every tensor storage as a 64-byte aligned STORED entry precisely so that readers
// can map it; this reader gives those entries out as zero-copy views of the file's memory map and
// inflates only DEFLATED entries (npz from `savez_compressed`).

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
    /// Which inflate implementation this build uses (system zlib, or ZIPFoundation's where zlib
    /// is not importable).
    #if canImport(CZlib)
    public static let inflateBackend = "zlib"
    #else
    public static let inflateBackend = "ZIPFoundation"
    #endif
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
        let entries = try withFileContext(path) { try ZipArchive.readEntries(ByteReader(storage.bytes)) }
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
        guard prefix.count >= 4 else { return false }
        let signature = prefix.loadUnaligned(as: UInt32.self).littleEndian
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
                let view = try ByteReader(storage.bytes).slice(entry.dataOffset, entry.compressedSize, what: "data")
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
            throw FormatError(.corrupted, file: path, location: "zip entry '\(entry.name)'",
                              "CRC-32 mismatch: expected \(hex(entry.crc32)), found \(hex(actual))")
        }
    }

    // MARK: - Inflating

    private func inflate(_ entry: ZipEntry) throws -> ByteStorage {
        let compressed = try ByteReader(storage.bytes).slice(entry.dataOffset, entry.compressedSize, what: "data")
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
        #if canImport(CZlib)
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
                result = CZlib.inflate(&stream, Z_NO_FLUSH)
            } else {
                result = withUnsafeMutablePointer(to: &spare) { pointer in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
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
        #else
        var inputOffset = 0
        var outputOffset = 0
        do {
            _ = try Data.decompress(size: Int64(input.count), bufferSize: 64 << 10, skipCRC32: true,
                                    provider: { _, size in
                                        let n = min(size, input.count - inputOffset)
                                        defer { inputOffset += n }
                                        return Data(UnsafeRawBufferPointer(rebasing: input[inputOffset..<(inputOffset + n)]))
                                    },
                                    consumer: { data in
                                        guard data.count <= output.count - outputOffset else {
                                            throw FormatError(.corrupted, "deflate stream inflates to more than the declared \(output.count) bytes")
                                        }
                                        data.withUnsafeBytes { (output.baseAddress! + outputOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                                        outputOffset += data.count
                                    })
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.corrupted, "corrupt deflate stream after \(outputOffset) bytes")
        }
        return outputOffset
        #endif
    }

    // MARK: - Central directory

    enum Signature {
        static let localHeader: UInt32 = 0x0403_4B50
        static let centralHeader: UInt32 = 0x0201_4B50
        static let endOfCentralDirectory: UInt32 = 0x0605_4B50
        static let zip64EndOfCentralDirectory: UInt32 = 0x0606_4B50
        static let zip64Locator: UInt32 = 0x0706_4B50
    }

    static let zip64ExtraID: UInt16 = 0x0001

    private static func readEntries(_ reader: ByteReader) throws -> [ZipEntry] {
        let fileSize = reader.bytes.count
        let eocd = try findEndRecord(reader)
        var entryCount = Int(try reader.read(UInt16.self, at: eocd + 10, what: "end record entry count"))
        var directorySize = Int(try reader.read(UInt32.self, at: eocd + 12, what: "end record directory size"))
        var directoryOffset = Int(try reader.read(UInt32.self, at: eocd + 16, what: "end record directory offset"))
        var directoryEndLimit = eocd

        // Zip64: a locator just before the end record points at the zip64 end record.
        if eocd >= 20, try reader.read(UInt32.self, at: eocd - 20) == Signature.zip64Locator {
            let recordOffset64 = try reader.read(UInt64.self, at: eocd - 12, what: "zip64 locator")
            guard recordOffset64 <= UInt64(eocd - 20) else {
                throw FormatError(.truncated, "zip64 end record offset \(recordOffset64) lies outside the file")
            }
            let record = Int(recordOffset64)
            guard try reader.read(UInt32.self, at: record, what: "zip64 end record") == Signature.zip64EndOfCentralDirectory else {
                throw FormatError(.malformed, "no zip64 end record at offset \(record) where the locator points")
            }
            let count64 = try reader.read(UInt64.self, at: record + 32, what: "zip64 entry count")
            let size64 = try reader.read(UInt64.self, at: record + 40, what: "zip64 directory size")
            let offset64 = try reader.read(UInt64.self, at: record + 48, what: "zip64 directory offset")
            guard count64 <= UInt64(ZipLimits.maxEntries) else {
                throw FormatError(.limit, "archive lists \(count64) entries, more than the limit \(ZipLimits.maxEntries)")
            }
            guard size64 <= UInt64(fileSize), offset64 <= UInt64(fileSize) else {
                throw FormatError(.truncated, "zip64 central directory (offset \(offset64), size \(size64)) lies outside the file of \(fileSize) bytes")
            }
            entryCount = Int(count64)
            directorySize = Int(size64)
            directoryOffset = Int(offset64)
            directoryEndLimit = record
        }
        guard entryCount <= ZipLimits.maxEntries else {
            throw FormatError(.limit, "archive lists \(entryCount) entries, more than the limit \(ZipLimits.maxEntries)")
        }
        guard directoryOffset <= directoryEndLimit, directorySize <= directoryEndLimit - directoryOffset else {
            throw FormatError(.truncated, "central directory (offset \(directoryOffset), size \(directorySize)) overlaps the end records or lies outside the file of \(fileSize) bytes")
        }

        var entries: [ZipEntry] = []
        entries.reserveCapacity(entryCount)
        var position = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        var inflatedTotal = 0
        for ordinal in 0..<entryCount {
            guard position <= directoryEnd - 46 else {
                throw FormatError(.malformed, "central directory ends after \(ordinal) of \(entryCount) entries")
            }
            let entry = try readCentralHeader(reader, at: &position, directoryEnd: directoryEnd, directoryStart: directoryOffset)
            if entry.compression == .deflated {
                inflatedTotal += entry.uncompressedSize
                if inflatedTotal > ZipLimits.maxInflatedTotalBytes {
                    throw FormatError(.limit, location: "zip entry '\(entry.name)'",
                                      "compressed entries inflate to more than \(ZipLimits.maxInflatedTotalBytes) bytes in total")
                }
            }
            entries.append(entry)
        }
        try checkNoOverlaps(entries, directoryStart: directoryOffset)
        return entries
    }

    private static func findEndRecord(_ reader: ByteReader) throws -> Int {
        let size = reader.bytes.count
        guard size >= 22 else {
            throw FormatError(.malformed, "not a zip archive: \(size) bytes is shorter than an end-of-central-directory record")
        }
        let lowest = max(0, size - ZipLimits.maxEndRecordSearch)
        var offset = size - 22
        while offset >= lowest {
            if reader.bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian == Signature.endOfCentralDirectory {
                let commentLength = Int(reader.bytes.loadUnaligned(fromByteOffset: offset + 20, as: UInt16.self).littleEndian)
                if offset + 22 + commentLength <= size { return offset }
            }
            offset -= 1
        }
        throw FormatError(.limit, "not a zip archive or truncated: no end-of-central-directory record in the last \(min(size, ZipLimits.maxEndRecordSearch)) bytes")
    }

    private static func readCentralHeader(_ reader: ByteReader, at position: inout Int, directoryEnd: Int,
                                          directoryStart: Int) throws -> ZipEntry {
        let start = position
        guard try reader.read(UInt32.self, at: start) == Signature.centralHeader else {
            throw FormatError(.malformed, "bad central directory header signature at offset \(start)")
        }
        let flags = try reader.read(UInt16.self, at: start + 8)
        let method = try reader.read(UInt16.self, at: start + 10)
        let crc = try reader.read(UInt32.self, at: start + 16)
        var compressed = UInt64(try reader.read(UInt32.self, at: start + 20))
        var uncompressed = UInt64(try reader.read(UInt32.self, at: start + 24))
        let nameLength = Int(try reader.read(UInt16.self, at: start + 28))
        let extraLength = Int(try reader.read(UInt16.self, at: start + 30))
        let commentLength = Int(try reader.read(UInt16.self, at: start + 32))
        var localOffset = UInt64(try reader.read(UInt32.self, at: start + 42))
        let headerEnd = start + 46 + nameLength + extraLength + commentLength
        guard headerEnd <= directoryEnd else {
            throw FormatError(.truncated, "central directory header at offset \(start) runs past the directory's end")
        }
        let nameBytes = try reader.slice(start + 46, nameLength, what: "entry name")
        let name = String(decoding: nameBytes, as: UTF8.self)
        let location = "zip entry '\(name)'"

        // Zip64 extra field: only the fields whose 32-bit value is saturated, in fixed order.
        let extra = try reader.slice(start + 46 + nameLength, extraLength, what: "extra field")
        if let zip64 = try findExtraField(zip64ExtraID, in: extra, location: location) {
            var cursor = 0
            func next(_ what: String) throws -> UInt64 {
                guard cursor + 8 <= zip64.count else {
                    throw FormatError(.truncated, location: location, "zip64 extra field is too short for the \(what)")
                }
                defer { cursor += 8 }
                return UInt64(littleEndian: zip64.loadUnaligned(fromByteOffset: cursor, as: UInt64.self))
            }
            if uncompressed == 0xFFFF_FFFF { uncompressed = try next("uncompressed size") }
            if compressed == 0xFFFF_FFFF { compressed = try next("compressed size") }
            if localOffset == 0xFFFF_FFFF { localOffset = try next("local header offset") }
        }
        if flags & 0x0001 != 0 {
            throw FormatError(.unsupported, location: location, "is encrypted; encrypted archives are not supported")
        }
        let fileSize = UInt64(reader.bytes.count)
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
                throw FormatError(.limit, location: location, "declares \(uncompressed) bytes from \(compressed) compressed: a ratio above \(ZipLimits.maxCompressionRatio):1 is not deflate (zip bomb?)")
            }
        case .other:
            break
        }

        // The local header: its name and extra field lengths decide where the data starts.
        let local = Int(localOffset)
        guard try reader.read(UInt32.self, at: local, what: "\(location) local header") == Signature.localHeader else {
            throw FormatError(.malformed, location: location, "no local file header at offset \(local)")
        }
        let localNameLength = Int(try reader.read(UInt16.self, at: local + 26, what: "\(location) local header"))
        let localExtraLength = Int(try reader.read(UInt16.self, at: local + 28, what: "\(location) local header"))
        let localName = try reader.slice(local + 30, localNameLength, what: "\(location) local name")
        guard localName.elementsEqual(nameBytes) else {
            throw FormatError(.corrupted, location: location, "local header names '\(String(decoding: localName, as: UTF8.self))', the central directory '\(name)'")
        }
        let dataOffset = local + 30 + localNameLength + localExtraLength
        let size = Int(compressed)
        guard dataOffset <= directoryStart, size <= directoryStart - dataOffset else {
            throw FormatError(.truncated, location: location, "data (bytes \(dataOffset)..<\(dataOffset + size)) runs past the entry area into the central directory at \(directoryStart)")
        }
        position = headerEnd
        return ZipEntry(name: name, compression: compression, compressedSize: size,
                        uncompressedSize: Int(uncompressed), crc32: crc, localHeaderOffset: local,
                        dataOffset: dataOffset, flags: flags)
    }

    /// The payload of the extra field `id` within an extra block, if present.
    private static func findExtraField(_ id: UInt16, in extra: UnsafeRawBufferPointer, location: String) throws -> UnsafeRawBufferPointer? {
        var cursor = 0
        while cursor + 4 <= extra.count {
            let fieldID = UInt16(littleEndian: extra.loadUnaligned(fromByteOffset: cursor, as: UInt16.self))
            let length = Int(UInt16(littleEndian: extra.loadUnaligned(fromByteOffset: cursor + 2, as: UInt16.self)))
            guard cursor + 4 + length <= extra.count else {
                throw FormatError(.truncated, location: location, "extra field 0x\(String(fieldID, radix: 16)) runs past the extra block")
            }
            if fieldID == id { return UnsafeRawBufferPointer(rebasing: extra[(cursor + 4)..<(cursor + 4 + length)]) }
            cursor += 4 + length
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
                throw FormatError(.corrupted, location: "zip entry '\(b.name)'",
                                  "overlaps zip entry '\(a.name)' (its header at \(b.localHeaderOffset) lies inside bytes \(a.localHeaderOffset)..<\(aEnd))")
            }
        }
    }
}

func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16, uppercase: false) }

// MARK: - CRC-32

/// CRC-32 (ISO-HDLC, as zip uses): zlib's when available, else a table-driven fallback.
public enum CRC32 {
    /// The CRC-32 of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        #if canImport(CZlib)
        var value = UInt(crc)
        var offset = 0
        let step = Int(UInt32.max >> 1)
        while offset < bytes.count {
            let n = min(step, bytes.count - offset)
            value = CZlib.crc32(value, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: value)
        #else
        var value = ~crc
        for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        return ~value
        #endif
    }

    #if !canImport(CZlib)
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    #endif
}
