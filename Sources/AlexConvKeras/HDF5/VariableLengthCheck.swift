import AlexConvCore
import Foundation

/// The raw bytes of an open HDF5 file, used to check variable-length string attributes before
/// libhdf5 reads them.
///
/// libhdf5 1.10 does not bounds-check the global heap reference (collection address, object index)
/// stored in a variable-length string, nor the sequence length it allocates for: a damaged file
/// crashes the process inside `H5Aread`. So before alexconv asks libhdf5 for such an attribute, it
/// finds the attribute message in the object's header itself (version 1 and 2 headers with their
/// continuation chunks), reads each stored reference and checks it against the collection it
/// names (`GlobalHeapCollection`, parsed as libhdf5 parses it). Only references that libhdf5 can
/// follow safely pass: an object that exists, whose size equals the string length.
final class HDF5FileBytes: @unchecked Sendable {
    /// Continuation chunks followed in one object header.
    static let maxHeaderChunks = 4096
    /// Header messages examined in one object header.
    static let maxHeaderMessages = 1 << 20

    private let storage: ByteStorage
    /// The file name for messages.
    let file: String
    /// Absolute offset that the file's (relative) addresses count from: the superblock's base address.
    let base: Int
    /// Width in bytes of addresses and of lengths (from the superblock).
    let offsetSize: Int
    let lengthSize: Int
    /// Collections already parsed, by absolute offset (accessed under the HDF5 library lock).
    private var collections: [Int: GlobalHeapCollection] = [:]

    var bytes: UnsafeRawBufferPointer { storage.bytes }

    /// Reads the superblock of the HDF5 image in `storage` (at offset 0 or after a user block of 512, 1024, ... bytes).
    init(storage: ByteStorage, file: String) throws {
        self.storage = storage
        self.file = file
        let bytes = storage.bytes
        var superblock: Int?
        var candidate = 0
        while candidate <= bytes.count - hdf5Signature.count {
            if hdf5Signature.indices.allSatisfy({ bytes[candidate + $0] == hdf5Signature[$0] }) { superblock = candidate; break }
            candidate = candidate == 0 ? 512 : candidate * 2
        }
        guard let start = superblock else {
            throw FormatError(file: file, "not an HDF5 file: the HDF5 signature \\x89HDF\\r\\n\\x1a\\n is missing")
        }
        let reader = HDF5ByteReader(bytes: bytes, file: file, location: "superblock")
        let version = try reader.byte(at: start + 8, what: "superblock version")
        let baseField: Int
        switch version {
        case 0, 1:
            offsetSize = Int(try reader.byte(at: start + 13, what: "size of offsets"))
            lengthSize = Int(try reader.byte(at: start + 14, what: "size of lengths"))
            baseField = start + (version == 0 ? 24 : 28)
        case 2, 3:
            offsetSize = Int(try reader.byte(at: start + 9, what: "size of offsets"))
            lengthSize = Int(try reader.byte(at: start + 10, what: "size of lengths"))
            baseField = start + 12
        default:
            throw FormatError(file: file, location: "superblock", "version \(version) is not one of 0, 1, 2, 3")
        }
        guard [2, 4, 8].contains(offsetSize), [2, 4, 8].contains(lengthSize) else {
            throw FormatError(file: file, location: "superblock", "sizes of offsets \(offsetSize) and lengths \(lengthSize) must each be 2, 4 or 8")
        }
        let base = try reader.unsigned(at: baseField, width: offsetSize, what: "base address")
        guard base <= UInt64(bytes.count) else {
            throw FormatError(file: file, location: "superblock", "base address \(base) is beyond the end of the file (\(bytes.count) bytes)")
        }
        self.base = Int(base)
    }

    // MARK: Checking variable-length strings

    /// Throws a `FormatError` unless every variable-length string of attribute `name` (of `count`
    /// elements) on the object whose header is at relative address `objectAddress` can be read safely.
    func checkVariableLengthStrings(objectAddress: UInt64, attribute name: String, count: Int, location: String) throws {
        let messages = try attributeMessages(objectAddress: objectAddress, named: name, location: location)
        let elementBytes = 4 + offsetSize + 4            // sequence length, collection address, object index
        let reader = HDF5ByteReader(bytes: bytes, file: file, location: location)
        let undefined = offsetSize == 8 ? UInt64.max : (UInt64(1) << UInt64(8 * offsetSize)) - 1
        for message in messages {
            guard count <= message.dataBytes / elementBytes else {
                throw FormatError(file: file, location: location,
                                  "corrupted: attribute holds \(message.dataBytes) bytes of data, \(count) variable-length strings need \(count * elementBytes)")
            }
            for element in 0..<count {
                let at = message.data + element * elementBytes
                let length = try reader.unsigned(at: at, width: 4, what: "string length")
                let address = try reader.unsigned(at: at + 4, width: offsetSize, what: "global heap address")
                let index = try reader.unsigned(at: at + 4 + offsetSize, width: 4, what: "global heap index")
                if address == 0 || address == undefined {
                    // No heap object: libhdf5 still allocates `length` bytes, and there is nothing to fill them.
                    guard length == 0 else {
                        throw FormatError(file: file, location: location, "corrupted: string \(element) has length \(length) but no heap object")
                    }
                    continue
                }
                let collection = try self.collection(at: address, location: location)
                guard index > 0, let object = collection.objects[Int(exactly: index) ?? -1] else {
                    throw FormatError(file: file, location: location,
                                      "corrupted: string \(element) refers to heap object \(index), which the global heap collection at byte \(collection.start) does not have")
                }
                guard UInt64(object.size) == length else {
                    throw FormatError(file: file, location: location,
                                      "corrupted: string \(element) has length \(length) but its heap object \(index) holds \(object.size) bytes")
                }
            }
        }
    }

    /// The collection at relative `address`, parsed once.
    private func collection(at address: UInt64, location: String) throws -> GlobalHeapCollection {
        guard address <= UInt64(bytes.count - base) else {
            throw FormatError(file: file, location: location, "corrupted: a string's global heap address \(address) is beyond the end of the file")
        }
        let start = base + Int(address)
        if let known = collections[start] { return known }
        let parsed = try GlobalHeapCollection(bytes, at: start, lengthSize: lengthSize, file: file, referrer: location)
        collections[start] = parsed
        return parsed
    }

    // MARK: Object headers

    /// Where an attribute message's raw data lies: absolute offset and byte count.
    struct AttributeData {
        let data: Int
        let dataBytes: Int
        /// The header chunk holding the message: its first byte and where its messages end
        /// (in version 2 headers, where the chunk's checksum starts).
        var chunk: (start: Int, messagesEnd: Int) = (0, 0)
    }

    /// The raw data of each attribute message called `name` stored in the object header at
    /// relative `objectAddress`. Throws when there is none (an attribute alexconv cannot locate is
    /// one it cannot check), or when it is shared or kept in dense attribute storage.
    func attributeMessages(objectAddress: UInt64, named name: String, location: String) throws -> [AttributeData] {
        let wanted = Array(name.utf8)
        var found: [AttributeData] = []
        var dense = false
        var shared = false
        try forEachMessage(objectAddress: objectAddress, location: location) { type, flags, start, size, chunk in
            switch type {
            case 0x000C where flags & 0x02 != 0:
                // A shared attribute message holds a reference to the attribute, not the attribute.
                shared = true
            case 0x000C:
                if var data = try self.attributeData(message: start, size: size, named: wanted, location: location) {
                    data.chunk = chunk
                    found.append(data)
                }
            case 0x0015 where size >= 2:
                if try self.hasDenseStorage(message: start, size: size, location: location) { dense = true }
            default:
                break
            }
        }
        if found.isEmpty {
            let reason = dense ? "is kept in dense attribute storage" : shared ? "is stored as a shared message" : ""
            throw FormatError(file: file, location: location, reason.isEmpty
                ? "corrupted: no attribute message of this name in the object header"
                : "attribute \(reason); alexconv cannot check its variable-length strings, so it does not read them")
        }
        return found
    }

    /// Calls `body(type, flags, absolute data offset, data size, chunk)` for every message of the
    /// object header at relative `objectAddress`, following continuation chunks.
    private func forEachMessage(objectAddress: UInt64, location: String,
                                _ body: (_ type: Int, _ flags: UInt8, _ start: Int, _ size: Int,
                                         _ chunk: (start: Int, messagesEnd: Int)) throws -> Void) throws {
        let reader = HDF5ByteReader(bytes: bytes, file: file, location: location + " (object header)")
        func corrupted(_ what: String) -> FormatError { FormatError(file: file, location: location + " (object header)", "corrupted: \(what)") }
        func absolute(_ address: UInt64) throws -> Int {
            guard address < UInt64(bytes.count - base) else { throw corrupted("address \(address) is beyond the end of the file") }
            return base + Int(address)
        }
        let start = try absolute(objectAddress)
        let version2 = start + 4 <= bytes.count && bytes[start] == 0x4F && bytes[start + 1] == 0x48
            && bytes[start + 2] == 0x44 && bytes[start + 3] == 0x52  // "OHDR"
        // Each chunk: its first byte and the byte range of its messages.
        var chunks: [(start: Int, from: Int, to: Int)] = []
        var trackCreationOrder = false
        if version2 {
            let version = try reader.byte(at: start + 4, what: "object header version")
            guard version == 2 else { throw corrupted("OHDR version \(version), expected 2") }
            let flags = try reader.byte(at: start + 5, what: "object header flags")
            trackCreationOrder = flags & 0x04 != 0
            var offset = start + 6
            if flags & 0x20 != 0 { offset += 16 }          // access, modification, change and birth times
            if flags & 0x10 != 0 { offset += 4 }           // attribute phase change values
            let width = 1 << Int(flags & 0x03)
            let size = try reader.unsigned(at: offset, width: width, what: "size of chunk 0")
            offset += width
            guard size <= UInt64(bytes.count - offset) else { throw corrupted("chunk 0 of \(size) bytes runs past the end of the file") }
            chunks.append((start, offset, offset + Int(size)))
        } else {
            let version = try reader.byte(at: start, what: "object header version")
            guard version == 1 else { throw corrupted("object header version \(version), expected 1 or an OHDR signature") }
            let size = try reader.unsigned(at: start + 8, width: 4, what: "object header size")
            let from = start + 16
            guard from <= bytes.count, size <= UInt64(bytes.count - from) else { throw corrupted("header of \(size) bytes runs past the end of the file") }
            chunks.append((start, from, from + Int(size)))
        }
        var visited: Set<Int> = [start]
        var examined = 0
        var chunkIndex = 0
        while chunkIndex < chunks.count {
            let chunk = chunks[chunkIndex]
            chunkIndex += 1
            var offset = chunk.from
            let headerBytes = version2 ? (trackCreationOrder ? 6 : 4) : 8
            while offset + headerBytes <= chunk.to {
                let type: Int
                let size: Int
                let flags: UInt8
                if version2 {
                    type = Int(try reader.byte(at: offset, what: "message type"))
                    size = Int(try reader.unsigned(at: offset + 1, width: 2, what: "message size"))
                    flags = try reader.byte(at: offset + 3, what: "message flags")
                } else {
                    type = Int(try reader.unsigned(at: offset, width: 2, what: "message type"))
                    size = Int(try reader.unsigned(at: offset + 2, width: 2, what: "message size"))
                    flags = try reader.byte(at: offset + 4, what: "message flags")
                }
                let data = offset + headerBytes
                guard size <= chunk.to - data else { throw corrupted("message of \(size) bytes at byte \(offset) runs past its chunk") }
                examined += 1
                guard examined <= Self.maxHeaderMessages else { throw corrupted("more than \(Self.maxHeaderMessages) messages") }
                if type == 0x0010 {                        // continuation: address and length of the next chunk
                    let address = try reader.unsigned(at: data, width: offsetSize, what: "continuation address")
                    let length = try reader.unsigned(at: data + offsetSize, width: lengthSize, what: "continuation length")
                    let from = try absolute(address)
                    guard length <= UInt64(bytes.count - from) else { throw corrupted("continuation chunk of \(length) bytes runs past the end of the file") }
                    guard visited.insert(from).inserted else { throw corrupted("continuation chunks form a loop") }
                    guard chunks.count < Self.maxHeaderChunks else { throw corrupted("more than \(Self.maxHeaderChunks) continuation chunks") }
                    if version2 {
                        // "OCHK" signature, messages, 4-byte checksum.
                        guard length >= 8, bytes[from] == 0x4F, bytes[from + 1] == 0x43, bytes[from + 2] == 0x48, bytes[from + 3] == 0x4B else {
                            throw corrupted("continuation chunk at byte \(from) has no OCHK signature")
                        }
                        chunks.append((from, from + 4, from + Int(length) - 4))
                    } else {
                        chunks.append((from, from, from + Int(length)))
                    }
                } else {
                    try body(type, flags, data, size, (chunk.start, chunk.to))
                }
                offset = data + size
            }
        }
    }

    /// The raw data of the attribute message at absolute `start` (`size` bytes) when its name is `name`, else nil.
    private func attributeData(message start: Int, size: Int, named name: [UInt8], location: String) throws -> AttributeData? {
        func corrupted(_ what: String) -> FormatError { FormatError(file: file, location: location, "corrupted attribute message: \(what)") }
        guard size >= 8 else { throw corrupted("\(size) bytes") }
        let reader = HDF5ByteReader(bytes: bytes, file: file, location: location)
        let version = bytes[start]
        let nameSize = Int(try reader.unsigned(at: start + 2, width: 2, what: "attribute name size"))
        let typeSize = Int(try reader.unsigned(at: start + 4, width: 2, what: "attribute datatype size"))
        let spaceSize = Int(try reader.unsigned(at: start + 6, width: 2, what: "attribute dataspace size"))
        func padded(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        let nameStart: Int
        switch version {
        case 1, 2: nameStart = start + 8
        case 3: nameStart = start + 9                      // after the name's character set
        default: throw corrupted("version \(version) is not 1, 2 or 3")
        }
        let dataStart = nameStart + padded(nameSize) + padded(typeSize) + padded(spaceSize)
        guard dataStart <= start + size else { throw corrupted("name, datatype and dataspace run past the message") }
        // The stored name ends with a NUL that `nameSize` counts.
        let stored = nameSize > 0 ? nameSize - 1 : 0
        guard stored == name.count, (0..<stored).allSatisfy({ bytes[nameStart + $0] == name[$0] }) else { return nil }
        return AttributeData(data: dataStart, dataBytes: start + size - dataStart)
    }

    /// True when the attribute info message at absolute `start` names a fractal heap (dense attribute storage).
    private func hasDenseStorage(message start: Int, size: Int, location: String) throws -> Bool {
        let reader = HDF5ByteReader(bytes: bytes, file: file, location: location)
        let flags = try reader.byte(at: start + 1, what: "attribute info flags")
        let heapField = start + 2 + (flags & 0x01 != 0 ? 2 : 0)
        guard heapField + offsetSize <= start + size else { return false }
        let heap = try reader.unsigned(at: heapField, width: offsetSize, what: "attribute heap address")
        let undefined = offsetSize == 8 ? UInt64.max : (UInt64(1) << UInt64(8 * offsetSize)) - 1
        return heap != undefined
    }
}
