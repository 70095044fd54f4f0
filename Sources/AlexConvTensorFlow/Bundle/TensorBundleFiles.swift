import AlexConvCore
import Foundation

/// An open tensor bundle: `PREFIX.index` decoded, `PREFIX.data-NNNNN-of-NNNNN` shards memory-mapped
/// on first use. Numeric tensors are views of the mapped shard, checked against the shard's length
/// and their CRC-32C before they are handed out; partitioned variables are assembled from their
/// slices into memory charged to the import's allocation budget.
final class TensorBundleFiles {
    let prefix: String
    let indexPath: String
    let index: TensorBundleIndex
    private var shards: [Int: ByteStorage] = [:]

    /// Opens `prefix.index` and decodes it (the shards are opened when a tensor needs them).
    init(prefix: String) throws {
        self.prefix = prefix
        indexPath = prefix + ".index"
        let storage = try ByteStorage.map(path: indexPath)
        index = try TensorBundleIndex(bytes: storage.bytes, file: indexPath)
    }

    /// Decodes an index held in memory (fuzzing and tests); shards are looked up beside `prefix`.
    init(indexBytes: UnsafeRawBufferPointer, prefix: String) throws {
        self.prefix = prefix
        indexPath = prefix + ".index"
        index = try TensorBundleIndex(bytes: indexBytes, file: indexPath)
    }

    func shardPath(_ shard: Int) -> String {
        TensorBundleIndex.shardPath(prefix: prefix, shard: shard, of: index.shardCount)
    }

    /// The mapped shard `shard`, for the tensor `name` (named in the error when it is missing).
    func shard(_ shard: Int, for name: String) throws -> ByteStorage {
        if let storage = shards[shard] { return storage }
        guard shard >= 0, shard < index.shardCount else {
            throw FormatError(
                .corrupted, file: indexPath, location: name,
                "shard_id \(shard), but the header says the bundle has \(index.shardCount) shard(s)")
        }
        let path = shardPath(shard)
        guard FileManager.default.fileExists(atPath: path) else {
            throw FormatError(
                .truncated, file: path, location: name,
                "missing: \(URL(fileURLWithPath: indexPath).lastPathComponent) lists \(index.shardCount) data shard(s) and this tensor is in shard \(shard) (incomplete copy of the checkpoint?)")
        }
        let storage = try ByteStorage.map(path: path)
        shards[shard] = storage
        return storage
    }

    // MARK: - Entry bytes

    /// The shard and byte range of a stored (unpartitioned) entry, checked against the shard.
    func location(of proto: Tensorflow_BundleEntryProto, name: String) throws -> (storage: ByteStorage, offset: Int, size: Int, path: String) {
        guard proto.offset >= 0, proto.size >= 0, proto.offset <= Int64(Int.max), proto.size <= Int64(Int.max) else {
            throw FormatError(.malformed, file: indexPath, location: name, "offset \(proto.offset) and size \(proto.size) must not be negative")
        }
        let storage = try shard(Int(proto.shardID), for: name)
        let path = shardPath(Int(proto.shardID))
        let offset = Int(proto.offset)
        let size = Int(proto.size)
        let (end, overflow) = offset.addingReportingOverflow(size)
        guard !overflow, end <= storage.bytes.count else {
            throw FormatError(
                .truncated, file: path, location: name,
                "truncated: the tensor's bytes \(offset)..<\(overflow ? Int.max : end) run past the shard's \(storage.bytes.count) bytes")
        }
        return (storage, offset, size, path)
    }

    /// Throws `.corrupted` naming the tensor unless the CRC-32C of `bytes` is the entry's (masked) checksum.
    func checkCRC(_ bytes: UnsafeRawBufferPointer, _ proto: Tensorflow_BundleEntryProto, name: String, path: String) throws {
        let actual = CRC32C.checksum(bytes)
        let stored = CRC32C.unmask(proto.crc32C)
        guard actual == stored else {
            throw FormatError(
                .corrupted, file: path, location: name,
                String(format: "CRC-32C mismatch: the index says %08x, the tensor's bytes give %08x (the tensor's data is damaged)", stored, actual))
        }
    }

    // MARK: - Numeric tensors

    /// The tensor `name` (dtype `dtype`, shape `shape` as its entry says): a CRC-checked view of the
    /// shard, or for a partitioned variable, the assembled slices.
    func tensor(_ proto: Tensorflow_BundleEntryProto, name: String, dtype: DType, shape: [Int]) throws -> Tensor {
        if !proto.slices.isEmpty { return try assemble(proto, name: name, dtype: dtype, shape: shape) }
        return try storedTensor(proto, name: name, dtype: dtype, shape: shape)
    }

    private func storedTensor(_ proto: Tensorflow_BundleEntryProto, name: String, dtype: DType, shape: [Int]) throws -> Tensor {
        let count = try checkedElementCount(shape, what: name)
        let bytes = try checkedMultiply(count, dtype.size, what: name)
        guard Int64(bytes) == proto.size else {
            throw FormatError(
                .corrupted, file: indexPath, location: name,
                "size \(proto.size) bytes, but shape \(shape) of \(dtype.name) needs \(bytes)")
        }
        let (storage, offset, size, path) = try location(of: proto, name: name)
        try checkCRC(UnsafeRawBufferPointer(rebasing: storage.bytes[offset..<(offset + size)]), proto, name: name, path: path)
        return try Tensor(storage: storage, byteOffset: offset, dtype: dtype, shape: shape, name: name)
    }

    /// A partitioned variable: every slice's entry checked (dtype, shape, bytes, CRC), the slices
    /// cover the full shape exactly once, then copied into place.
    private func assemble(_ proto: Tensorflow_BundleEntryProto, name: String, dtype: DType, shape: [Int]) throws -> Tensor {
        guard proto.slices.count <= TensorFlowLimits.maxSlices else {
            throw FormatError(.limit, file: indexPath, location: name, "\(proto.slices.count) slices exceed \(TensorFlowLimits.maxSlices)")
        }
        let rank = shape.count
        var boxes: [(start: [Int], length: [Int], entry: Tensorflow_BundleEntryProto, key: String)] = []
        var covered = 0
        for (n, slice) in proto.slices.enumerated() {
            guard slice.extent.count == rank else {
                throw FormatError(.malformed, file: indexPath, location: name, "slice \(n) has \(slice.extent.count) extents for a rank-\(rank) tensor")
            }
            var start: [Int] = []
            var length: [Int] = []
            var extents: [(start: Int64, length: Int64?)] = []
            for (axis, extent) in slice.extent.enumerated() {
                let dim = shape[axis]
                var s = 0
                var l = dim
                var given: Int64?
                if case .length(let value)? = extent.hasLength_p {
                    given = value
                    guard extent.start >= 0, value >= 0, extent.start <= Int64(dim), value <= Int64(dim) - extent.start else {
                        throw FormatError(
                            .malformed, file: indexPath, location: name,
                            "slice \(n) extent \(axis) (start \(extent.start), length \(value)) lies outside dimension \(axis) of \(shape)")
                    }
                    s = Int(extent.start)
                    l = Int(value)
                } else if extent.start != 0 {
                    throw FormatError(.malformed, file: indexPath, location: name, "slice \(n) extent \(axis) has a start (\(extent.start)) but no length")
                }
                start.append(s)
                length.append(l)
                extents.append((given == nil ? 0 : extent.start, given))
            }
            let key = SliceKey.key(name: name, extents: extents)
            let description = "\(name)[\(zip(start, length).map { "\($0):\($0 + $1)" }.joined(separator: ","))]"
            guard let entry = index.slices[key] else {
                throw FormatError(.corrupted, file: indexPath, location: name, "slice \(n) (\(description)) has no entry in the index")
            }
            covered += length.reduce(1, *)
            boxes.append((start, length, entry, description))
        }
        let total = try checkedElementCount(shape, what: name)
        for i in boxes.indices {
            for j in boxes.indices where j > i {
                let overlap = (0..<rank).allSatisfy { axis in
                    boxes[i].start[axis] < boxes[j].start[axis] + boxes[j].length[axis] && boxes[j].start[axis] < boxes[i].start[axis] + boxes[i].length[axis]
                }
                if overlap && rank > 0 {
                    throw FormatError(.corrupted, file: indexPath, location: name, "slices \(boxes[i].key) and \(boxes[j].key) overlap")
                }
            }
        }
        guard covered == total else {
            throw FormatError(.corrupted, file: indexPath, location: name, "the slices hold \(covered) of the \(total) elements of shape \(shape)")
        }
        let bytes = try checkedMultiply(total, dtype.size, what: name)
        try AllocationBudget.charge(bytes, what: "\(name) (partitioned variable, assembled from \(boxes.count) slices)")
        let (storage, buffer) = ByteStorage.zeroed(count: bytes)
        let fullStrides = Tensor.contiguousStrides(shape)
        for box in boxes {
            guard TensorFlowDType.dtype(box.entry.dtype) == dtype else {
                throw FormatError(
                    .corrupted, file: indexPath, location: box.key,
                    "slice dtype \(TensorFlowDType.name(box.entry.dtype)), the variable is \(dtype.name)")
            }
            let sliceShape = try TensorBundleIndex.shape(of: box.entry, name: box.key, file: indexPath)
            guard sliceShape == box.length else {
                throw FormatError(.corrupted, file: indexPath, location: box.key, "slice shape \(sliceShape), its extents say \(box.length)")
            }
            let part = try storedTensor(box.entry, name: box.key, dtype: dtype, shape: sliceShape)
            copy(part, into: buffer, start: box.start, fullStrides: fullStrides, elementSize: dtype.size)
        }
        return try Tensor(storage: storage, byteOffset: 0, dtype: dtype, shape: shape, name: name)
    }

    /// Copies the contiguous block `part` into `buffer` (a contiguous tensor with `fullStrides`) at `start`.
    private func copy(_ part: Tensor, into buffer: UnsafeMutableRawBufferPointer, start: [Int], fullStrides: [Int], elementSize: Int) {
        part.withContiguousBytes { source in
            guard let src = source.baseAddress, let dst = buffer.baseAddress, part.count > 0 else { return }
            let rank = part.shape.count
            if rank == 0 {
                dst.copyMemory(from: src, byteCount: elementSize)
                return
            }
            let row = part.shape[rank - 1] * elementSize
            let rows = part.count / part.shape[rank - 1]
            var index = [Int](repeating: 0, count: rank)
            for r in 0..<rows {
                var element = 0
                for axis in 0..<rank { element += (start[axis] + index[axis]) * fullStrides[axis] }
                (dst + element * elementSize).copyMemory(from: src + r * row, byteCount: row)
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < part.shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    // MARK: - Strings

    /// The bytes of a scalar `DT_STRING` entry (`_CHECKPOINTABLE_OBJECT_GRAPH`), as `WriteStringTensor`
    /// lays it out: varint64 length, masked CRC-32C of the length (as u32, or u64 above 4 GiB), the
    /// bytes; the entry's CRC-32C covers length value, length checksum and bytes.
    func scalarString(_ proto: Tensorflow_BundleEntryProto, name: String, limit: Int) throws -> [UInt8] {
        let (storage, offset, size, path) = try location(of: proto, name: name)
        var cursor = ByteCursor(
            UnsafeRawBufferPointer(rebasing: storage.bytes[offset..<(offset + size)]), file: path,
            label: name, base: offset)
        let length = try cursor.readVarintSize(what: "string length", limit: limit)
        var crc: UInt32
        if length <= Int(UInt32.max) {
            crc = withUnsafeBytes(of: UInt32(length).littleEndian) { CRC32C.checksum($0) }
        } else {
            crc = withUnsafeBytes(of: UInt64(length).littleEndian) { CRC32C.checksum($0) }
        }
        let lengthChecksum = try cursor.read(UInt32.self, what: "string length checksum")
        guard CRC32C.unmask(lengthChecksum) == crc else {
            throw FormatError(
                .corrupted, file: path, location: name, String(format: "string length checksum %08x does not match the length's %08x", CRC32C.unmask(lengthChecksum), crc) + " (length \(length))")
        }
        crc = withUnsafeBytes(of: lengthChecksum.littleEndian) { CRC32C.update(crc, $0) }
        let bytes = try cursor.readBytes(length, what: "string bytes")
        guard cursor.isAtEnd else {
            throw FormatError(.corrupted, file: path, location: name, "entry size \(size) bytes, the string ends after \(cursor.offset)")
        }
        crc = CRC32C.update(crc, bytes)
        guard crc == CRC32C.unmask(proto.crc32C) else {
            throw FormatError(
                .corrupted, file: path, location: name,
                String(format: "CRC-32C mismatch: the index says %08x, the string's bytes give %08x (the tensor's data is damaged)", CRC32C.unmask(proto.crc32C), crc))
        }
        return Array(bytes)
    }
}
