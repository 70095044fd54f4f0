import AlexConv
import AlexConvNumPy
import FuzzSupport

/// npy preamble and header dict, then the whole .npy reader (numeric arrays and pickled dicts).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNpyHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        _ = try? NpyHeader.parse(bytes)
        let bundle = try NumPyReader.bundle(storage: FuzzHarness.storage(bytes), path: "fuzz.npy")
        try FuzzHarness.exercise(bundle)
    }
}
