import AlexConv
import FuzzSupport

/// safetensors: header length, JSON header, dtypes, shapes and data offsets; canonical metadata.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let bundle = try Safetensors.read(storage: FuzzHarness.storage(bytes), path: "fuzz.safetensors")
        if CanonicalFile.isCanonical(bundle) { _ = try CanonicalFile.model(from: bundle) }
        try FuzzHarness.exercise(bundle)
    }
}
