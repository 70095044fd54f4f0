import AlexConvCore
import Foundation

/// Pre-checks of an HDF5 file's own bytes: the parts of its metadata that libhdf5 would decode
/// without bounds checks (attribute messages, variable-length string references, local heaps) are
/// read here first, through a `ByteCursor`, and refused when damaged.
///
/// libhdf5 1.10 trusts the attribute messages of an object header: it copies as many data bytes as
/// the datatype and dataspace claim, whatever the message holds (`H5Aexists` alone decodes every
/// attribute of the object), and it follows the global heap reference (collection address, object
/// index) of a variable-length string without bounds checks. A damaged file crashes the process.
/// So before alexconv asks libhdf5 about an object's attributes, it reads the object header itself
/// (version 1 and 2 headers with their continuation chunks) and checks every attribute message:
/// the name is NUL-terminated where its size says, the data the datatype and dataspace describe
/// fits in the message. Before a variable-length string attribute is read, each stored reference
/// is checked against the collection it names (`GlobalHeapCollection`, parsed as libhdf5 parses
/// it): the object must exist and hold exactly the string's length. What cannot be checked
/// (attributes in dense or shared-message storage, shared datatypes) is refused with that reason.
/// Before a name is looked up in a group, the group's local heap must lie inside the file.
final class HDF5Precheck: @unchecked Sendable {
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
    /// Attribute messages of the object headers already checked, by relative address (same lock).
    private var checkedObjects: [UInt64: [AttributeMessage]] = [:]
    /// Groups whose link storage was already checked, by relative header address (same lock).
    private var checkedGroups: Set<UInt64> = []

    var bytes: UnsafeRawBufferPointer { storage.bytes }
    /// The whole file image; reads are relabelled with what they read (an object header, a heap).
    let image: ByteCursor

    /// Reads the superblock of the HDF5 image in `storage` (at offset 0 or after a user block of 512, 1024, ... bytes).
    init(storage: ByteStorage, file: String) throws {
        self.storage = storage
        self.file = file
        let bytes = storage.bytes
        image = ByteCursor(bytes, file: file, label: "")
        guard let start = hdf5SuperblockOffset(bytes) else {
            throw FormatError(.malformed, file: file, "not an HDF5 file: the HDF5 signature \\x89HDF\\r\\n\\x1a\\n is missing")
        }
        let reader = image.relabeled("HDF5 superblock at byte \(start)")
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
            throw reader.error(.malformed, "version \(version) is not one of 0, 1, 2, 3")
        }
        guard [2, 4, 8].contains(offsetSize), [2, 4, 8].contains(lengthSize) else {
            throw reader.error(.malformed, "sizes of offsets \(offsetSize) and lengths \(lengthSize) must each be 2, 4 or 8")
        }
        let base = try reader.unsigned(width: offsetSize, at: baseField, what: "base address")
        guard base <= UInt64(bytes.count) else {
            throw reader.error(.malformed, "base address \(base) is beyond the end of the file (\(bytes.count) bytes)")
        }
        self.base = Int(base)
    }

    // MARK: Checking variable-length strings

    /// Throws a `FormatError` unless every variable-length string of attribute `name` (of `count`
    /// elements) on the object whose header is at relative address `objectAddress` can be read safely.
    func checkVariableLengthStrings(objectAddress: UInt64, attribute name: String, count: Int, location: String) throws {
        let wanted = Array(name.utf8)
        let messages = try checkedAttributes(objectAddress: objectAddress, location: location)
            .filter { try image.slice(at: $0.name.lowerBound, count: $0.name.count, what: "attribute name").elementsEqual(wanted) }
        guard !messages.isEmpty else {
            throw FormatError(.corrupted, file: file, location: location, "corrupted: no attribute message of this name in the object header")
        }
        let elementBytes = variableLengthElementBytes
        for message in messages {
            guard message.elementBytes == elementBytes, count <= message.elements else {
                throw FormatError(
                    .corrupted, file: file, location: location,
                    "corrupted: a variable-length string attribute of \(count) elements, stored as \(message.elements) of \(message.elementBytes) bytes")
            }
            let data = try image.record(at: message.data.lowerBound, count: message.data.count, label: location)
            for element in 0..<count {
                let at = element * elementBytes
                let length = try data.unsigned(width: 4, at: at, what: "string length")
                let address = try data.unsigned(width: offsetSize, at: at + 4, what: "global heap address")
                let index = try data.unsigned(width: 4, at: at + 4 + offsetSize, what: "global heap index")
                if address == 0 {
                    // No heap object (libhdf5 reads none for address 0): it still allocates `length` bytes, with nothing to fill them.
                    guard length == 0 else {
                        throw FormatError(.corrupted, file: file, location: location, "corrupted: string \(element) has length \(length) but no heap object")
                    }
                    continue
                }
                let collection = try self.collection(at: address, location: location)
                guard index > 0, let object = collection.objects[Int(exactly: index) ?? -1] else {
                    throw FormatError(
                        .corrupted, file: file, location: location,
                        "corrupted: string \(element) refers to heap object \(index), which the global heap collection at byte \(collection.start) does not have")
                }
                guard UInt64(object.size) == length else {
                    throw FormatError(
                        .corrupted, file: file, location: location,
                        "corrupted: string \(element) has length \(length) but its heap object \(index) holds \(object.size) bytes")
                }
            }
        }
    }

    /// The collection at relative `address`, parsed once.
    private func collection(at address: UInt64, location: String) throws -> GlobalHeapCollection {
        guard address <= UInt64(bytes.count - base) else {
            throw FormatError(.corrupted, file: file, location: location, "corrupted: a string's global heap address \(address) is beyond the end of the file")
        }
        let start = base + Int(address)
        if let known = collections[start] { return known }
        let parsed = try GlobalHeapCollection(image, at: start, lengthSize: lengthSize, referrer: location)
        collections[start] = parsed
        return parsed
    }

    // MARK: Link storage

    /// Throws a `FormatError` naming `location` unless the local heap of the (version 1) group
    /// whose header is at relative `objectAddress` lies inside the file. libhdf5 1.10 allocates the
    /// heap's data segment size as its local heap claims it before reading (4 GB for a damaged
    /// size field) the first time a name is looked up in the group.
    func checkLinkStorage(objectAddress: UInt64, location: String) throws {
        if checkedGroups.contains(objectAddress) { return }
        var heaps: [UInt64] = []
        try forEachMessage(objectAddress: objectAddress, location: location) { type, _, start, size, _ in
            // Symbol table message: v1 B-tree address, local heap address.
            guard type == 0x0011 else { return }
            guard size >= 2 * self.offsetSize else {
                throw FormatError(.corrupted, file: self.file, location: location, "corrupted: symbol table message of \(size) bytes")
            }
            let message = try self.image.record(at: start, count: size, label: location)
            heaps.append(try message.unsigned(width: self.offsetSize, at: self.offsetSize, what: "local heap address"))
        }
        for heap in heaps { try checkLocalHeap(at: heap, location: location) }
        checkedGroups.insert(objectAddress)
    }

    /// Checks the local heap ("HEAP": version 0, data segment size, free-list offset, data segment address) at relative `address`.
    private func checkLocalHeap(at address: UInt64, location: String) throws {
        let location = "\(location): local heap at address \(address)"
        func corrupted(_ what: String) -> FormatError { FormatError(.corrupted, file: file, location: location, "corrupted: \(what)") }
        let available = UInt64(bytes.count - base)
        guard address < available else { throw corrupted("it lies beyond the end of the file") }
        let start = base + Int(address)
        let reader = image.relabeled(location)
        guard reader.hasSignature("HEAP".utf8, at: start) else {
            throw corrupted("no HEAP signature where the group's symbol table points")
        }
        let version = try reader.byte(at: start + 4, what: "local heap version")
        guard version == 0 else { throw corrupted("version \(version), expected 0") }
        let size = try reader.unsigned(width: lengthSize, at: start + 8, what: "data segment size")
        let segment = try reader.unsigned(width: offsetSize, at: start + 8 + 2 * lengthSize, what: "data segment address")
        guard segment <= available, size <= available - segment else {
            throw corrupted("a data segment of \(size) bytes at address \(segment) does not fit in the file (\(available) bytes)")
        }
    }

    // MARK: Attribute messages

    /// Bytes of one variable-length element in the file: sequence length, collection address, object index.
    var variableLengthElementBytes: Int { 4 + offsetSize + 4 }

    /// The "undefined address" (all bits set) of this file's address width.
    var undefinedAddress: UInt64 { offsetSize == 8 ? UInt64.max : (UInt64(1) << UInt64(8 * offsetSize)) - 1 }

    /// One attribute message as stored, every range absolute and inside the message.
    struct AttributeMessage {
        /// The name without its NUL.
        let name: Range<Int>
        /// The dataspace message inside the attribute message.
        let dataspace: Range<Int>
        /// The raw data: `elements` values of `elementBytes` each (possibly followed by padding).
        let data: Range<Int>
        let elements: Int
        let elementBytes: Int
        /// The header chunk holding the message: its first byte and where its messages end
        /// (in version 2 headers, where the chunk's checksum starts).
        let chunk: (start: Int, messagesEnd: Int)
    }

    /// The attribute messages of the object header at relative `objectAddress`, after checking
    /// that libhdf5 can decode each of them safely; throws a `FormatError` naming `location` otherwise.
    func checkedAttributes(objectAddress: UInt64, location: String) throws -> [AttributeMessage] {
        if let known = checkedObjects[objectAddress] { return known }
        var messages: [AttributeMessage] = []
        var dense = false
        var shared = false
        try forEachMessage(objectAddress: objectAddress, location: location) { type, flags, start, size, chunk in
            switch type {
            case 0x000C where flags & 0x02 != 0:
                // A shared attribute message holds a reference to the attribute, not the attribute.
                shared = true
            case 0x000C:
                messages.append(try self.attributeMessage(at: start, size: size, chunk: chunk, location: location))
            case 0x0015 where size >= 2:
                if try self.hasDenseStorage(message: start, size: size, location: location) { dense = true }
            default:
                break
            }
        }
        if dense || shared {
            throw FormatError(
                .malformed, file: file, location: location,
                "attributes are kept in \(dense ? "dense attribute storage" : "shared messages"); alexconv cannot check them before libhdf5 decodes them, so it does not read them")
        }
        checkedObjects[objectAddress] = messages
        return messages
    }

    /// Parses and checks the attribute message at absolute `start` (`size` bytes).
    private func attributeMessage(
        at start: Int, size: Int, chunk: (start: Int, messagesEnd: Int),
        location: String
    ) throws -> AttributeMessage {
        func corrupted(_ what: String) -> FormatError { FormatError(.corrupted, file: file, location: location, "corrupted attribute message at byte \(start): \(what)") }
        guard size >= 8 else { throw corrupted("\(size) bytes") }
        // Offsets below are relative to the message; every read stays inside it.
        let message = try image.record(at: start, count: size, label: location)
        let version = try message.byte(at: 0, what: "attribute message version")
        let flags = version == 1 ? 0 : try message.byte(at: 1, what: "attribute message flags")
        let nameSize = Int(try message.unsigned(width: 2, at: 2, what: "attribute name size"))
        let typeSize = Int(try message.unsigned(width: 2, at: 4, what: "attribute datatype size"))
        let spaceSize = Int(try message.unsigned(width: 2, at: 6, what: "attribute dataspace size"))
        func padded(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        let nameStart: Int
        switch version {
        case 1, 2: nameStart = 8
        case 3: nameStart = 9  // after the name's character set
        default: throw corrupted("version \(version) is not 1, 2 or 3")
        }
        let typeStart = nameStart + padded(nameSize)
        let spaceStart = typeStart + padded(typeSize)
        let dataStart = spaceStart + padded(spaceSize)
        guard dataStart <= size else { throw corrupted("name, datatype and dataspace run past the message") }
        // The name is NUL-terminated exactly where its size says (libhdf5 copies it with strdup).
        let name = try message.slice(at: nameStart, count: nameSize, what: "attribute name")
        guard nameSize >= 1, name[nameSize - 1] == 0, !name[0..<(nameSize - 1)].contains(0) else {
            throw corrupted("the name is not a NUL-terminated string of \(nameSize) bytes")
        }
        guard flags & 0x03 == 0 else {
            throw FormatError(
                .malformed, file: file, location: location,
                "an attribute has a shared datatype or dataspace; alexconv cannot check it before libhdf5 decodes it, so it does not read it")
        }
        // Datatype: class in the low 4 bits of byte 0, element size in bytes 4-7.
        guard typeSize >= 8 else { throw corrupted("datatype of \(typeSize) bytes") }
        let typeClass = try message.byte(at: typeStart, what: "datatype class") & 0x0F
        let elementBytes = Int(try message.unsigned(width: 4, at: typeStart + 4, what: "datatype size"))
        if typeClass == 9 && elementBytes != variableLengthElementBytes {
            throw corrupted("a variable-length datatype of \(elementBytes) bytes, expected \(variableLengthElementBytes)")
        }
        let space = try message.record(at: spaceStart, count: spaceSize, label: location)
        let elements = try dataspaceElements(space, corrupted: corrupted)
        let dataBytes = size - dataStart
        let (needed, overflow) = elements.multipliedReportingOverflow(by: elementBytes)
        guard !overflow, needed <= dataBytes else {
            throw corrupted("\(elements) elements of \(elementBytes) bytes do not fit in its \(dataBytes) data bytes")
        }
        return AttributeMessage(
            name: (start + nameStart)..<(start + nameStart + nameSize - 1),
            dataspace: (start + spaceStart)..<(start + spaceStart + spaceSize),
            data: (start + dataStart)..<(start + size),
            elements: elements, elementBytes: elementBytes, chunk: chunk)
    }

    /// The number of elements of the dataspace message `space` (a record of the message's bytes).
    private func dataspaceElements(_ space: ByteCursor, corrupted: (String) -> FormatError) throws -> Int {
        let size = space.count
        guard size >= 4 else { throw corrupted("dataspace of \(size) bytes") }
        let version = try space.byte(at: 0, what: "dataspace version")
        let rank = Int(try space.byte(at: 1, what: "dataspace rank"))
        let flags = try space.byte(at: 2, what: "dataspace flags")
        let dimensionsStart: Int
        switch version {
        case 1:
            dimensionsStart = 8
            if rank == 0 { return 1 }  // scalar
        case 2:
            dimensionsStart = 4
            let type = try space.byte(at: 3, what: "dataspace type")
            switch type {
            case 0: return 1  // scalar
            case 1: break  // simple
            case 2: return 0  // null
            default: throw corrupted("dataspace type \(type)")
            }
        default:
            throw corrupted("dataspace version \(version) is not 1 or 2")
        }
        guard rank <= 32 else { throw corrupted("dataspace of rank \(rank)") }
        let arrays = flags & 0x01 != 0 ? 2 : 1  // dimensions, then maximum dimensions
        guard dimensionsStart + arrays * rank * lengthSize <= size else {
            throw corrupted("\(rank) dimensions run past the dataspace")
        }
        var elements = 1
        for axis in 0..<rank {
            let extent = try space.unsigned(width: lengthSize, at: dimensionsStart + axis * lengthSize, what: "dimension")
            guard let value = Int(exactly: extent) else { throw corrupted("dimension \(extent)") }
            let (product, overflow) = elements.multipliedReportingOverflow(by: value)
            guard !overflow else { throw corrupted("dimensions overflow") }
            elements = product
        }
        return elements
    }

    /// Calls `body(type, flags, absolute data offset, data size, chunk)` for every message of the
    /// object header at relative `objectAddress`, following continuation chunks.
    private func forEachMessage(
        objectAddress: UInt64, location: String,
        _ body: (
            _ type: Int, _ flags: UInt8, _ start: Int, _ size: Int,
            _ chunk: (start: Int, messagesEnd: Int)
        ) throws -> Void
    ) throws {
        guard objectAddress < UInt64(bytes.count - base) else {
            throw FormatError(
                .corrupted, file: file, location: "\(location): HDF5 object header at address \(objectAddress)",
                "corrupted: address \(objectAddress) is beyond the end of the file")
        }
        let start = base + Int(objectAddress)
        let reader = image.relabeled("\(location): HDF5 object header at byte \(start)")
        func corrupted(_ what: String) -> FormatError { reader.error(.corrupted, "corrupted: \(what)") }
        func absolute(_ address: UInt64) throws -> Int {
            guard address < UInt64(bytes.count - base) else { throw corrupted("address \(address) is beyond the end of the file") }
            return base + Int(address)
        }
        let version2 = reader.hasSignature("OHDR".utf8, at: start)
        // Each chunk: its first byte and the byte range of its messages.
        var chunks: [(start: Int, from: Int, to: Int)] = []
        var trackCreationOrder = false
        if version2 {
            let version = try reader.byte(at: start + 4, what: "object header version")
            guard version == 2 else { throw corrupted("OHDR version \(version), expected 2") }
            let flags = try reader.byte(at: start + 5, what: "object header flags")
            trackCreationOrder = flags & 0x04 != 0
            var offset = start + 6
            if flags & 0x20 != 0 { offset += 16 }  // access, modification, change and birth times
            if flags & 0x10 != 0 { offset += 4 }  // attribute phase change values
            let width = 1 << Int(flags & 0x03)
            let size = try reader.unsigned(width: width, at: offset, what: "size of chunk 0")
            offset += width
            guard size <= UInt64(bytes.count - offset) else { throw corrupted("chunk 0 of \(size) bytes runs past the end of the file") }
            chunks.append((start, offset, offset + Int(size)))
        } else {
            let version = try reader.byte(at: start, what: "object header version")
            guard version == 1 else { throw corrupted("object header version \(version), expected 1 or an OHDR signature") }
            let size = try reader.unsigned(width: 4, at: start + 8, what: "object header size")
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
                    size = Int(try reader.unsigned(width: 2, at: offset + 1, what: "message size"))
                    flags = try reader.byte(at: offset + 3, what: "message flags")
                } else {
                    type = Int(try reader.unsigned(width: 2, at: offset, what: "message type"))
                    size = Int(try reader.unsigned(width: 2, at: offset + 2, what: "message size"))
                    flags = try reader.byte(at: offset + 4, what: "message flags")
                }
                let data = offset + headerBytes
                guard size <= chunk.to - data else { throw corrupted("message of \(size) bytes at byte \(offset) runs past its chunk") }
                examined += 1
                guard examined <= Self.maxHeaderMessages else { throw corrupted("more than \(Self.maxHeaderMessages) messages") }
                if type == 0x0010 {  // continuation: address and length of the next chunk
                    let address = try reader.unsigned(width: offsetSize, at: data, what: "continuation address")
                    let length = try reader.unsigned(width: lengthSize, at: data + offsetSize, what: "continuation length")
                    let from = try absolute(address)
                    guard length <= UInt64(bytes.count - from) else { throw corrupted("continuation chunk of \(length) bytes runs past the end of the file") }
                    guard visited.insert(from).inserted else { throw corrupted("continuation chunks form a loop") }
                    guard chunks.count < Self.maxHeaderChunks else { throw corrupted("more than \(Self.maxHeaderChunks) continuation chunks") }
                    if version2 {
                        // "OCHK" signature, messages, 4-byte checksum.
                        guard length >= 8, reader.hasSignature("OCHK".utf8, at: from) else {
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

    /// True when the attribute info message at absolute `start` names a fractal heap (dense attribute storage).
    private func hasDenseStorage(message start: Int, size: Int, location: String) throws -> Bool {
        let message = try image.record(at: start, count: size, label: location)
        let flags = try message.byte(at: 1, what: "attribute info flags")
        let heapField = 2 + (flags & 0x01 != 0 ? 2 : 0)
        guard heapField + offsetSize <= size else { return false }
        let heap = try message.unsigned(width: offsetSize, at: heapField, what: "attribute heap address")
        return heap != undefinedAddress
    }
}
