import AlexConv
import Foundation
import TestSupport
import Testing

@testable import AlexConvTensorFlow

// MARK: - Damaged TensorFlow checkpoints

/// A copy of a committed checkpoint directory (Fixtures/tensorflow/<name>) in a temporary folder.
struct CheckpointCopy {
    let directory: String
    let prefix: String

    init(_ fixture: String, prefix name: String) throws {
        directory = FixturePaths.temporaryDirectory("tf-hostile")
        let source = FixturePaths.path("tensorflow/" + fixture)
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: directory + "/" + file)
        }
        prefix = directory + "/" + name
    }

    var index: String { prefix + ".index" }
    var data: String { prefix + ".data-00000-of-00001" }

    func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
    func write(_ bytes: [UInt8], to path: String) { FileManager.default.createFile(atPath: path, contents: Data(bytes)) }
    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Rewrites the index as a valid table (fresh block checksums) after `change` edits its entries.
    func rewriteIndex(_ change: (inout [(key: [UInt8], value: [UInt8])]) throws -> Void) throws {
        let original = bytes(index)
        var entries = try original.withUnsafeBytes { raw in
            try LevelDBTable(bytes: raw, file: index).entries.map { (key: $0.key, value: Array($0.value)) }
        }
        try change(&entries)
        var builder = LevelDBTableBuilder()
        for entry in entries { builder.add(key: entry.key, value: entry.value) }
        write(builder.finish(), to: index)
    }

    /// Edits the entry of `name` (or the header, for the empty name).
    func editEntry(_ name: String, _ edit: (inout Tensorflow_BundleEntryProto) -> Void) throws {
        try rewriteIndex { entries in
            let i = try #require(entries.firstIndex { $0.key == Array(name.utf8) })
            var proto = try Tensorflow_BundleEntryProto(serializedBytes: entries[i].value)
            edit(&proto)
            entries[i].value = try proto.serializedBytes()
        }
    }

    func editHeader(_ edit: (inout Tensorflow_BundleHeaderProto) -> Void) throws {
        try rewriteIndex { entries in
            var header = try Tensorflow_BundleHeaderProto(serializedBytes: entries[0].value)
            edit(&header)
            entries[0].value = try header.serializedBytes()
        }
    }

    /// Where the bytes of `name` are in the data shard.
    func range(of name: String) throws -> Range<Int> {
        let files = try TensorBundleFiles(prefix: prefix)
        let entry = try #require(files.index.entries.first { $0.name == name })
        return Int(entry.proto.offset)..<Int(entry.proto.offset + entry.proto.size)
    }
}

/// Loads `path` as the CLI does and requires a one-line refusal (exit 3, naming the file) of
/// `kind` whose message contains each of `words`.
func expectCheckpointRefusal(_ path: String, _ kind: FormatError.Kind?, _ words: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    guard let message = expectRefusal(path, sourceLocation: sourceLocation) else { return }
    for word in words {
        #expect(message.contains(word), "expected '\(word)' in: \(message)", sourceLocation: sourceLocation)
    }
    if let kind {
        do {
            _ = try ModelLoader.load(path: path)
        } catch let error as FormatError {
            #expect(error.kind == kind, "kind \(error.kind), expected \(kind): \(message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(type(of: error)) instead of a FormatError: \(error)", sourceLocation: sourceLocation)
        }
    }
    HostileCaseCounter.shared.add("tensorflow checkpoints")
}

@Suite("Hostile TensorFlow checkpoints: one line naming the file and the key, exit 3, never a crash")
struct HostileTensorFlowTests {
    // MARK: The table

    @Test func truncatedIndex() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let bytes = copy.bytes(copy.index)
        copy.write(Array(bytes.prefix(bytes.count - 9)), to: copy.index)
        expectCheckpointRefusal(copy.prefix, .malformed, "model.ckpt-1000.index", "table magic", "truncated")
        copy.write(Array(bytes.prefix(20)), to: copy.index)
        expectCheckpointRefusal(copy.prefix, .truncated, "model.ckpt-1000.index", "48-byte footer")
        copy.write([], to: copy.index)
        expectCheckpointRefusal(copy.prefix, .truncated, "model.ckpt-1000.index")
    }

    @Test func footerWithoutTheMagic() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        var bytes = copy.bytes(copy.index)
        for i in (bytes.count - 8)..<bytes.count { bytes[i] = 0 }
        copy.write(bytes, to: copy.index)
        expectCheckpointRefusal(copy.directory, .malformed, "model.ckpt-1000.index", "0xdb4775248b80fb57")
    }

    @Test func blockHandlesOutsideTheFile() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let bytes = copy.bytes(copy.index)
        let footerStart = bytes.count - 48
        let meta = try bytes.withUnsafeBytes { raw -> BlockHandle in
            var footer = ByteCursor(UnsafeRawBufferPointer(rebasing: raw[footerStart...]), label: "footer")
            return try BlockHandle(&footer, what: "metaindex")
        }
        let real = (meta.offset, meta.size)
        for (metaindex, index) in [(real, (bytes.count * 4, 100)), (real, (10, Int(Int64.max) - 5)), ((bytes.count, 8), (0, 10))] {
            var footer = Varint.encoded(UInt64(metaindex.0)) + Varint.encoded(UInt64(metaindex.1))
            footer += Varint.encoded(UInt64(index.0)) + Varint.encoded(UInt64(index.1))
            footer += [UInt8](repeating: 0, count: 40 - footer.count)
            footer += Array(bytes.suffix(8))
            copy.write(Array(bytes.prefix(footerStart)) + footer, to: copy.index)
            expectCheckpointRefusal(copy.prefix, .corrupted, "model.ckpt-1000.index", "outside the")
        }
    }

    @Test func damagedBlockChecksumAndCompression() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let original = copy.bytes(copy.index)
        var bytes = original
        bytes[40] ^= 0x10
        copy.write(bytes, to: copy.index)
        expectCheckpointRefusal(copy.prefix, .corrupted, "model.ckpt-1000.index", "data block 0", "checksum mismatch")
        // The first data block marked snappy-compressed, with a checksum that matches.
        let handle = try original.withUnsafeBytes { raw -> BlockHandle in
            var footer = ByteCursor(UnsafeRawBufferPointer(rebasing: raw[(raw.count - 48)...]), label: "footer")
            _ = try BlockHandle(&footer, what: "metaindex")
            let indexHandle = try BlockHandle(&footer, what: "index")
            let indexBlock = try LevelDBTable.block(indexHandle, in: ByteCursor(raw, label: "table"), what: "index block")
            var value = ByteCursor(try LevelDBTable.entries(of: indexBlock, what: "index")[0].value, label: "handle")
            return try BlockHandle(&value, what: "data block")
        }
        bytes = original
        bytes[handle.offset + handle.size] = LevelDBTable.snappyCompression
        let crc = CRC32C.mask(CRC32C.checksum(Array(bytes[handle.offset..<(handle.offset + handle.size + 1)])))
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((handle.offset + handle.size + 1)..<(handle.offset + handle.size + 5), with: $0) }
        copy.write(bytes, to: copy.index)
        expectCheckpointRefusal(copy.prefix, .unsupported, "model.ckpt-1000.index", "snappy")
    }

    @Test("every 1/16th cut and 24 bit flips of an index with its shard beside it: refused or read, never a crash")
    func damagedIndexes() throws {
        for fixture in [("tf1", "model.ckpt-1000"), ("tf2_subclass", "alexnet")] {
            let copy = try CheckpointCopy(fixture.0, prefix: fixture.1)
            defer { copy.remove() }
            let original = copy.bytes(copy.index)
            for k in 0..<16 {
                copy.write(Array(original.prefix(original.count * k / 16)), to: copy.index)
                if case .read = loadHostile(copy.prefix) { Issue.record("\(fixture.0): index cut to \(k)/16 was read") }
            }
            var rng = SplitMix64(seed: 0x7F_C4EC ^ UInt64(original.count))
            for flip in 0..<24 {
                var bytes = original
                for _ in 0..<(flip % 2 == 0 ? 1 : 3) {
                    let bit = Int(rng.next() % UInt64(bytes.count * 8))
                    bytes[bit / 8] ^= UInt8(1 << (bit % 8))
                }
                copy.write(bytes, to: copy.index)
                _ = loadHostile(copy.prefix)
            }
            HostileCaseCounter.shared.add("tensorflow index damage", 40)
        }
    }

    // MARK: Shards

    @Test func missingShard() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try FileManager.default.removeItem(atPath: copy.data)
        expectCheckpointRefusal(copy.prefix + ".index", .truncated, "model.ckpt-1000.data-00000-of-00001", "missing")
        try copy.editHeader { $0.numShards = 3 }
        expectCheckpointRefusal(copy.prefix, .truncated, "model.ckpt-1000.data-00000-of-00003", "model.ckpt-1000.index lists 3 data shard")
    }

    @Test func tensorRunningPastItsShard() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let fc8 = try copy.range(of: "fc8/weights")
        let bytes = copy.bytes(copy.data)
        copy.write(Array(bytes.prefix(fc8.lowerBound + 10)), to: copy.data)
        expectCheckpointRefusal(copy.prefix, .truncated, "model.ckpt-1000.data-00000-of-00001", "fc8/weights", "run past")
        copy.write(bytes, to: copy.data)
        try copy.editEntry("conv1/weights") { $0.offset = Int64(bytes.count) - 8 }
        expectCheckpointRefusal(copy.prefix, .truncated, "conv1/weights", "run past the shard")
        try copy.editEntry("conv1/weights") { $0.offset = Int64.max - 2 }
        expectCheckpointRefusal(copy.prefix, .truncated, "conv1/weights")
        try copy.editEntry("conv1/weights") { $0.offset = -4 }
        expectCheckpointRefusal(copy.prefix, .malformed, "conv1/weights", "negative")
        try copy.editEntry("conv1/weights") {
            $0.offset = 0
            $0.shardID = 7
        }
        expectCheckpointRefusal(copy.prefix, .corrupted, "conv1/weights", "shard_id 7")
    }

    @Test func crcMismatchNamesTheTensor() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let conv2 = try copy.range(of: "conv2/weights")
        var bytes = copy.bytes(copy.data)
        bytes[conv2.lowerBound + 100] ^= 0x01
        copy.write(bytes, to: copy.data)
        expectCheckpointRefusal(copy.prefix, .corrupted, "model.ckpt-1000.data-00000-of-00001", "conv2/weights", "CRC-32C mismatch")
    }

    @Test func objectGraphDamage() throws {
        let copy = try CheckpointCopy("tf2_subclass", prefix: "alexnet")
        defer { copy.remove() }
        let graph = try copy.range(of: "_CHECKPOINTABLE_OBJECT_GRAPH")
        var bytes = copy.bytes(copy.data)
        bytes[graph.upperBound - 3] ^= 0x40
        copy.write(bytes, to: copy.data)
        expectCheckpointRefusal(copy.prefix, .corrupted, "_CHECKPOINTABLE_OBJECT_GRAPH", "CRC-32C mismatch")
        try copy.editEntry("_CHECKPOINTABLE_OBJECT_GRAPH") { $0.dtype = .dtFloat }
        expectCheckpointRefusal(copy.prefix, .malformed, "_CHECKPOINTABLE_OBJECT_GRAPH", "scalar DT_STRING")
    }

    // MARK: Header and entries

    @Test func bigEndianBundle() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try copy.editHeader { $0.endianness = .big }
        expectCheckpointRefusal(copy.prefix, .unsupported, "model.ckpt-1000.index", "header entry", "big-endian")
    }

    @Test func headerProblems() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try copy.editHeader { $0.numShards = 0 }
        expectCheckpointRefusal(copy.prefix, .malformed, "num_shards is 0")
        try copy.editHeader { $0.numShards = 1_000_000_000 }
        expectCheckpointRefusal(copy.prefix, .limit, "num_shards")
        try copy.editHeader {
            $0.numShards = 1
            $0.version.minConsumer = 7
        }
        expectCheckpointRefusal(copy.prefix, .unsupported, "version 7")
        try copy.rewriteIndex { entries in entries.removeFirst() }
        expectCheckpointRefusal(copy.prefix, .malformed, "header")
    }

    @Test func stringAndResourceDtypesWhereWeightsAreExpected() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try copy.editEntry("conv1/weights") { $0.dtype = .dtString }
        expectCheckpointRefusal(copy.prefix, .unsupported, "conv1/weights", "DT_STRING", "weight")
        try copy.editEntry("conv1/weights") { $0.dtype = .dtResource }
        expectCheckpointRefusal(copy.prefix, .unsupported, "conv1/weights", "DT_RESOURCE")
        try copy.editEntry("conv1/weights") { $0.dtype = .dtComplex64 }
        expectCheckpointRefusal(copy.prefix, .unsupported, "conv1/weights", "DT_COMPLEX64")
    }

    @Test func shapesAndSizesThatDoNotAgree() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try copy.editEntry("fc6/weights") { $0.size += 4 }
        expectCheckpointRefusal(copy.prefix, .corrupted, "fc6/weights", "needs")
        try copy.editEntry("fc6/weights") {
            $0.size -= 4
            $0.shape.dim[0].size = -1
        }
        expectCheckpointRefusal(copy.prefix, .malformed, "fc6/weights", "negative")
        try copy.editEntry("fc6/weights") { $0.shape.dim = Array(repeating: $0.shape.dim[1], count: 40) + [$0.shape.dim[1]] }
        expectCheckpointRefusal(copy.prefix, .limit, "fc6/weights")
        try copy.editEntry("fc6/weights") { $0.shape.unknownRank = true }
        expectCheckpointRefusal(copy.prefix, .malformed, "fc6/weights", "unknown rank")
    }

    @Test func partitionedVariableProblems() throws {
        let copy = try CheckpointCopy("tf1_partitioned", prefix: "model.ckpt")
        defer { copy.remove() }
        let middle = SliceKey.key(name: "fc6/weights", extents: [(192, 192), (0, 32)])
        try copy.rewriteIndex { entries in entries.removeAll { $0.key == middle } }
        expectCheckpointRefusal(copy.prefix, .corrupted, "fc6/weights", "no entry")
        let fresh = try CheckpointCopy("tf1_partitioned", prefix: "model.ckpt")
        defer { fresh.remove() }
        try fresh.editEntry("fc6/weights") { $0.slices[1] = $0.slices[0] }
        expectCheckpointRefusal(fresh.prefix, .corrupted, "fc6/weights", "overlap")
        try fresh.editEntry("fc6/weights") { $0.slices.removeLast() }
        expectCheckpointRefusal(fresh.prefix, .corrupted, "fc6/weights")
        try fresh.editEntry("fc6/weights") { $0.slices[0].extent[0].length = 100_000 }
        expectCheckpointRefusal(fresh.prefix, .malformed, "fc6/weights", "outside dimension")
    }

    // MARK: Paths

    @Test func stateFileNamingAMissingPrefix() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try "model_checkpoint_path: \"model.ckpt-2000\"\n".write(toFile: copy.directory + "/checkpoint", atomically: true, encoding: .utf8)
        expectCheckpointRefusal(copy.directory, .corrupted, "checkpoint", "model.ckpt-2000", "does not exist")
        try "all_model_checkpoint_paths: \"model.ckpt-1000\"\n".write(toFile: copy.directory + "/checkpoint", atomically: true, encoding: .utf8)
        expectCheckpointRefusal(copy.directory, .malformed, "checkpoint", "no model_checkpoint_path")
        try "model_checkpoint_path: \"model.ckpt-1000\n".write(toFile: copy.directory + "/checkpoint", atomically: true, encoding: .utf8)
        expectCheckpointRefusal(copy.directory, .malformed, "checkpoint", "unterminated")
    }

    @Test func dataShardWithoutItsIndex() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        try FileManager.default.removeItem(atPath: copy.index)
        expectCheckpointRefusal(copy.data, .truncated, "model.ckpt-1000.index", "missing")
    }

    @Test func savedModelWithDamagedKerasMetadata() throws {
        let copy = try CheckpointCopy("savedmodel", prefix: "variables/variables")
        defer { copy.remove() }
        var bytes = copy.bytes(copy.directory + "/keras_metadata.pb")
        bytes[0] = 0xFF
        bytes[1] = 0xFF
        copy.write(bytes, to: copy.directory + "/keras_metadata.pb")
        expectCheckpointRefusal(copy.directory, .malformed, "keras_metadata.pb")
        try FileManager.default.removeItem(atPath: copy.directory + "/variables")
        try FileManager.default.removeItem(atPath: copy.directory + "/keras_metadata.pb")
        expectCheckpointRefusal(copy.directory, .truncated, "variables/variables.index", "missing")
    }

    // MARK: Outputs never overwrite the checkpoint read

    @Test func exportingOverTheInputCheckpointIsRefusedEvenWithForce() throws {
        let copy = try CheckpointCopy("tf1", prefix: "model.ckpt-1000")
        defer { copy.remove() }
        let before = copy.bytes(copy.index)
        let model = try ModelLoader.load(path: copy.prefix, arch: "caffenet")
        #expect(FormatRegistry.inputFiles(of: copy.directory).contains(copy.directory + "/checkpoint"))
        for (input, output) in [(copy.prefix, copy.prefix), (copy.data, copy.prefix), (copy.directory, copy.directory + "/other.ckpt")] {
            #expect(throws: UsageError.self, "\(input) -> \(output)") {
                try Conversion.export(model, inputPath: input, request: ExportRequest(format: "tf-checkpoint", output: output, force: true))
            }
        }
        #expect(copy.bytes(copy.index) == before)
        #expect(!FileManager.default.fileExists(atPath: copy.directory + "/other.ckpt.index"))
    }
}
