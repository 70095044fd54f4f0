import AlexConv
import AlexConvNumPy
import AlexConvPickle
import AlexConvTorch
import FuzzSupport

/// The pickle VM as data: every opcode, the memo, marks, and the allow-lists of torch and numpy.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPickle(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let storage = FuzzHarness.storage(bytes)
        _ = try? PickleReader.read(storage: storage, allowedGlobals: NumPyPickleGlobals.allowed)
        _ = try PickleReader.read(storage: storage, allowedGlobals: TorchGlobals.allowed)
    }
}
