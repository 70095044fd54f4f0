import AlexConvCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks the global heap collections of an HDF5 file before libhdf5 reads them.
///
/// Variable-length strings (Keras' `model_config`, `layer_names`, ...) live in global heap
/// collections ("GCOL"). libhdf5 1.10 trusts each heap object's size field and copies that many
/// bytes (a corrupted size overruns its buffer and crashes the process), so alexconv walks every
/// collection first and refuses a file whose objects do not fit inside their collection.
enum GlobalHeapCheck {
    /// Smallest collection libhdf5 writes.
    static let minimumCollectionBytes = 4096
    static let headerBytes = 16        // "GCOL", version, 3 reserved, u64 collection size
    static let objectHeaderBytes = 16  // u16 index, u16 references, 4 reserved, u64 size

    /// Throws a `FormatError` naming `file` when a global heap collection is inconsistent.
    static func validate(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        guard let base = bytes.baseAddress, bytes.count >= headerBytes else { return }
        let reader = ByteReader(bytes)
        var position = 0
        while position + 4 <= bytes.count {
            guard let found = memchr(base + position, 0x47 /* G */, bytes.count - position - 3) else { return }
            let start = base.distance(to: UnsafeRawPointer(found))
            position = start + 1
            guard bytes[start + 1] == 0x43, bytes[start + 2] == 0x4F, bytes[start + 3] == 0x4C else { continue }  // "COL"
            position = start + 4
            // Only something that looks like a collection header is checked (raw data may contain "GCOL").
            guard start + headerBytes <= bytes.count, bytes[start + 4] == 1,
                  bytes[start + 5] == 0, bytes[start + 6] == 0, bytes[start + 7] == 0 else { continue }
            let size = try reader.read(UInt64.self, at: start + 8)
            guard size >= UInt64(minimumCollectionBytes), size <= UInt64(bytes.count - start) else { continue }
            let end = start + Int(size)
            var offset = start + headerBytes
            while offset + objectHeaderBytes <= end {
                let index = try reader.read(UInt16.self, at: offset)
                let objectSize = try reader.read(UInt64.self, at: offset + 8)
                if index == 0 {
                    // Free space. A size of 0 makes libhdf5 1.10 (and 1.14, via h5py) loop forever
                    // when reading any variable-length string from this collection.
                    guard objectSize > 0 else {
                        throw FormatError(file: file, location: "global heap at byte \(start)",
                                          "corrupted: free-space object of size 0 (libhdf5 would never finish reading it)")
                    }
                    guard objectSize <= UInt64(end - offset) else { break }
                    offset += Int(objectSize)
                    continue
                }
                let room = UInt64(end - offset - objectHeaderBytes)
                guard objectSize <= room, (objectSize + 7) / 8 * 8 <= room else {
                    throw FormatError(file: file, location: "global heap at byte \(start)",
                                      "corrupted: object \(index) claims \(objectSize) bytes, the collection has \(room) left")
                }
                let padded: Int = Int((objectSize + 7) / 8 * 8)
                offset += objectHeaderBytes + padded
            }
            position = Swift.max(position, end)
        }
    }
}
