import AlexConvCore
import Foundation

// MARK: - Writer

/// Writes a zip archive of STORED entries through an `AtomicFileWriter`, streaming each entry's
/// bytes (the CRC-32 is computed while streaming and patched into the local header).
///
/// Entry data can be aligned (torch aligns every record to 64 bytes) with an `FB` extra field
/// of filler, as PyTorch's writer does. Zip64 records are written when sizes or offsets need
/// them, or for every entry with `forceZip64` (as numpy's `savez` does).
public final class ZipWriter {
    /// Where the archive goes.
    public let file: AtomicFileWriter
    /// Write zip64 extra fields for every entry and zip64 end records.
    public let forceZip64: Bool
    private var central: [CentralRecord] = []
    private var names = Set<String>()
    private var finished = false

    struct CentralRecord {
        var name: [UInt8]
        var crc: UInt32
        var size: Int
        var localOffset: Int
    }

    /// Extra-field id torch uses for alignment padding: the bytes `F`, `B`.
    public static let alignmentExtraID: UInt16 = 0x4246
    /// DOS date 1980-01-01 00:00, as numpy and torch write (reproducible files).
    static let dosTime: UInt16 = 0
    static let dosDate: UInt16 = (0 << 9) | (1 << 5) | 1
    static let saturated32: UInt32 = 0xFFFF_FFFF

    /// Starts an archive written to `file`.
    public init(file: AtomicFileWriter, forceZip64: Bool = false) {
        self.file = file
        self.forceZip64 = forceZip64
    }

    /// Streams one entry's bytes; counts them and updates the CRC-32.
    public final class EntrySink {
        fileprivate let file: AtomicFileWriter
        fileprivate var crc: UInt32 = 0
        fileprivate var written = 0
        fileprivate let expected: Int
        fileprivate let name: String
        fileprivate init(file: AtomicFileWriter, expected: Int, name: String) {
            self.file = file
            self.expected = expected
            self.name = name
        }

        /// Appends `bytes` to the entry.
        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard bytes.count <= expected - written else {
                throw ModelError(tensor: name, "zip entry gets more than its declared \(expected) bytes")
            }
            crc = CRC32.checksum(bytes, continuing: crc)
            try file.write(bytes)
            written += bytes.count
        }

        public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    }

    /// Adds a stored entry of exactly `size` bytes produced by `body`, its data starting at a
    /// multiple of `alignment` bytes from the start of the file (0 or 1: no padding).
    public func addEntry(name: String, size: Int, alignment: Int = 0, _ body: (EntrySink) throws -> Void) throws {
        precondition(!finished, "archive already finished")
        guard names.insert(name).inserted else {
            throw ModelError(tensor: name, "zip entry name used twice")
        }
        let nameBytes = Array(name.utf8)
        let localOffset = file.offset
        let zip64 = forceZip64 || size >= Int(ZipWriter.saturated32)
        var extra: [UInt8] = []
        if zip64 {
            extra.appendLE(UInt16(0x0001))
            extra.appendLE(UInt16(16))
            extra.appendLE(UInt64(size))
            extra.appendLE(UInt64(size))
        }
        if alignment > 1 {
            let unpadded = localOffset + 30 + nameBytes.count + extra.count + 4
            let padding = (alignment - unpadded % alignment) % alignment
            extra.appendLE(ZipWriter.alignmentExtraID)
            extra.appendLE(UInt16(padding))
            extra.append(contentsOf: [UInt8](repeating: UInt8(ascii: "Z"), count: padding))
        }
        var header: [UInt8] = []
        header.appendLE(ZipArchive.Signature.localHeader)
        header.appendLE(UInt16(zip64 ? 45 : 20))  // version needed
        header.appendLE(UInt16(0x0800))  // flags: UTF-8 names
        header.appendLE(UInt16(0))  // stored
        header.appendLE(ZipWriter.dosTime)
        header.appendLE(ZipWriter.dosDate)
        header.appendLE(UInt32(0))  // CRC, patched after the data
        header.appendLE(zip64 ? ZipWriter.saturated32 : UInt32(size))
        header.appendLE(zip64 ? ZipWriter.saturated32 : UInt32(size))
        header.appendLE(UInt16(nameBytes.count))
        header.appendLE(UInt16(extra.count))
        header += nameBytes
        header += extra
        try file.write(header)
        let sink = EntrySink(file: file, expected: size, name: name)
        try body(sink)
        guard sink.written == size else {
            throw ModelError(tensor: name, "zip entry got \(sink.written) bytes, declared \(size)")
        }
        var crc: [UInt8] = []
        crc.appendLE(sink.crc)
        try file.patch(crc, at: localOffset + 14)
        central.append(CentralRecord(name: nameBytes, crc: sink.crc, size: size, localOffset: localOffset))
    }

    /// Adds a stored entry holding `bytes`.
    public func addEntry(name: String, bytes: [UInt8], alignment: Int = 0) throws {
        try addEntry(name: name, size: bytes.count, alignment: alignment) { try $0.write(bytes) }
    }

    /// Writes the central directory and end records. The caller commits the file.
    public func finish() throws {
        precondition(!finished, "archive already finished")
        finished = true
        let directoryOffset = file.offset
        var directory: [UInt8] = []
        for record in central {
            let bigSize = forceZip64 || record.size >= Int(ZipWriter.saturated32)
            let bigOffset = record.localOffset >= Int(ZipWriter.saturated32)
            var extra: [UInt8] = []
            if bigSize || bigOffset {
                var fields: [UInt8] = []
                if bigSize {
                    fields.appendLE(UInt64(record.size))
                    fields.appendLE(UInt64(record.size))
                }
                if bigOffset { fields.appendLE(UInt64(record.localOffset)) }
                extra.appendLE(UInt16(0x0001))
                extra.appendLE(UInt16(fields.count))
                extra += fields
            }
            directory.appendLE(ZipArchive.Signature.centralHeader)
            directory.appendLE(UInt16(bigSize || bigOffset ? 45 : 20))  // version made by
            directory.appendLE(UInt16(bigSize || bigOffset ? 45 : 20))  // version needed
            directory.appendLE(UInt16(0x0800))
            directory.appendLE(UInt16(0))
            directory.appendLE(ZipWriter.dosTime)
            directory.appendLE(ZipWriter.dosDate)
            directory.appendLE(record.crc)
            directory.appendLE(bigSize ? ZipWriter.saturated32 : UInt32(record.size))
            directory.appendLE(bigSize ? ZipWriter.saturated32 : UInt32(record.size))
            directory.appendLE(UInt16(record.name.count))
            directory.appendLE(UInt16(extra.count))
            directory.appendLE(UInt16(0))  // comment
            directory.appendLE(UInt16(0))  // disk
            directory.appendLE(UInt16(0))  // internal attributes
            directory.appendLE(UInt32(0o644) << 16)  // external attributes: rw-r--r--
            directory.appendLE(bigOffset ? ZipWriter.saturated32 : UInt32(record.localOffset))
            directory += record.name
            directory += extra
        }
        try file.write(directory)
        let directorySize = directory.count
        let needsZip64 =
            forceZip64 || central.count >= 0xFFFF || directoryOffset >= Int(ZipWriter.saturated32)
            || directorySize >= Int(ZipWriter.saturated32)
        var end: [UInt8] = []
        if needsZip64 {
            let recordOffset = file.offset
            end.appendLE(ZipArchive.Signature.zip64EndOfCentralDirectory)
            end.appendLE(UInt64(44))  // size of the rest of the record
            end.appendLE(UInt16(45))
            end.appendLE(UInt16(45))
            end.appendLE(UInt32(0))
            end.appendLE(UInt32(0))
            end.appendLE(UInt64(central.count))
            end.appendLE(UInt64(central.count))
            end.appendLE(UInt64(directorySize))
            end.appendLE(UInt64(directoryOffset))
            end.appendLE(ZipArchive.Signature.zip64Locator)
            end.appendLE(UInt32(0))
            end.appendLE(UInt64(recordOffset))
            end.appendLE(UInt32(1))
        }
        end.appendLE(ZipArchive.Signature.endOfCentralDirectory)
        end.appendLE(UInt16(0))
        end.appendLE(UInt16(0))
        end.appendLE(UInt16(needsZip64 ? 0xFFFF : central.count))
        end.appendLE(UInt16(needsZip64 ? 0xFFFF : central.count))
        end.appendLE(needsZip64 ? ZipWriter.saturated32 : UInt32(directorySize))
        end.appendLE(needsZip64 ? ZipWriter.saturated32 : UInt32(directoryOffset))
        end.appendLE(UInt16(0))
        try file.write(end)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
