import AlexConvCore
import Foundation

/// One global heap collection ("GCOL") of an HDF5 file, parsed the way libhdf5 parses it, so that
/// a variable-length reference can be checked before libhdf5 follows it.
///
/// Variable-length strings (Keras' `model_config`, `layer_names`, ...) live in these collections.
/// libhdf5 1.10 trusts what it finds there: a free-space object of size 0 makes its collection
/// parser loop forever, an object whose size runs past the collection overruns a buffer, and an
/// object index that is not in the collection dereferences a null or out-of-bounds slot. Each of
/// those is refused here with a `FormatError`.
struct GlobalHeapCollection {
    /// Smallest collection libhdf5 writes (`H5HG_MINSIZE`).
    static let minimumBytes = 4096
    /// Heap objects of one collection have a 16-bit index.
    static let maximumObjects = 65_536

    /// The collection's absolute byte offset in the file image (for messages).
    let start: Int
    /// Object index → (absolute offset of the object's data, size in bytes). Index 0 (free space) is not listed.
    let objects: [Int: (data: Int, size: Int)]

    /// Parses the collection at absolute byte `start` of `image` (the whole file), whose lengths
    /// are `lengthSize` bytes wide; errors name `referrer` (what points here) and the collection.
    init(_ image: ByteCursor, at start: Int, lengthSize: Int, referrer: String) throws {
        let reader = image.relabeled("\(referrer): global heap collection at byte \(start)")
        func corrupted(_ what: String) -> FormatError { reader.error(.corrupted, "corrupted: \(what)") }
        let fileSize = image.count
        // Both headers are padded to a multiple of 8 bytes (H5HG_ALIGN).
        let headerBytes = (8 + lengthSize + 7) / 8 * 8  // "GCOL", version, 3 reserved, collection size
        let objectHeaderBytes = (8 + lengthSize + 7) / 8 * 8  // u16 index, u16 references, 4 reserved, object size
        guard start >= 0, start <= fileSize - headerBytes else {
            throw corrupted("it lies outside the file (\(fileSize) bytes)")
        }
        guard reader.hasSignature("GCOL".utf8, at: start) else {
            throw corrupted("no GCOL signature where a variable-length string points")
        }
        let version = try reader.byte(at: start + 4, what: "collection version")
        guard version == 1 else { throw corrupted("version \(version), expected 1") }
        let size = try reader.unsigned(width: lengthSize, at: start + 8, what: "collection size")
        guard size >= UInt64(Self.minimumBytes), size <= UInt64(fileSize - start) else {
            throw corrupted("collection size \(size) is outside \(Self.minimumBytes)...\(fileSize - start) (the bytes left in the file)")
        }
        let end = start + Int(size)
        var objects: [Int: (data: Int, size: Int)] = [:]
        var offset = start + headerBytes
        while offset < end {
            // libhdf5 treats a tail too short for an object header as free space.
            if offset + objectHeaderBytes > end { break }
            let index = Int(try reader.unsigned(width: 2, at: offset, what: "heap object index"))
            let objectSize = try reader.unsigned(width: lengthSize, at: offset + 8, what: "heap object size")
            let room = UInt64(end - offset)
            if index == 0 {
                // Free space: its size covers its own header. 0 would make libhdf5 parse the same spot forever.
                guard objectSize > 0 else {
                    throw corrupted("free-space object of size 0 (libhdf5 would never finish reading it)")
                }
                guard objectSize <= room else { throw corrupted("free space of \(objectSize) bytes, the collection has \(room) left") }
                offset += Int(objectSize)
                continue
            }
            let padded = (objectSize &+ 7) / 8 * 8
            guard objectSize <= room, padded <= room - UInt64(objectHeaderBytes) else {
                throw corrupted("object \(index) claims \(objectSize) bytes, the collection has \(room - UInt64(min(room, UInt64(objectHeaderBytes)))) left")
            }
            objects[index] = (offset + objectHeaderBytes, Int(objectSize))
            offset += objectHeaderBytes + Int(padded)
        }
        self.start = start
        self.objects = objects
    }
}
