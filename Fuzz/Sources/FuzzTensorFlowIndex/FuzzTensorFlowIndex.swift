import AlexConv
import AlexConvTensorFlow
import Foundation
import FuzzSupport

/// TensorFlow `.index` files: the LevelDB table (footer, block handles, block checksums, prefix-
/// compressed entries, restart arrays), the bundle header and entries, then the tensors: the same
/// bytes also serve as the one data shard, so offsets, sizes, CRC-32Cs, slices and the object
/// graph are reached too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTensorFlowIndex(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let shard = try FuzzHarness.temporaryFile(bytes, suffix: "-tf.data-00000-of-00001")
        defer { unlink(shard) }
        let prefix = String(shard.dropLast(".data-00000-of-00001".count))
        let bundle = try TensorFlowCheckpointReader.read(indexBytes: bytes, prefix: prefix)
        try FuzzHarness.exercise(bundle)
    }
}
