import AlexConv
import AlexConvNumPy
import FuzzSupport

/// npy preamble and header dict, the single-array reader (the batches and goldens `run`, `verify`
/// and `diff` take), then the whole .npy reader (numeric arrays and pickled dicts).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNpyHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    _ = FuzzHarness.run(data, size) { bytes in
        let array = try NumPyReader.readArray(storage: FuzzHarness.storage(bytes))
        _ = array.contiguous(as: .float32)
    }
    return FuzzHarness.run(data, size) { bytes in
        _ = try? NpyHeader.parse(bytes)
        let bundle = try NumPyReader.bundle(storage: FuzzHarness.storage(bytes), path: "fuzz.npy")
        try FuzzHarness.exercise(bundle)
    }
}
