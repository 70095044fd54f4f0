import AlexConv
import AlexConvKeras
import FuzzSupport

/// HDF5 through libhdf5 and the Keras readers (legacy .h5, weights-only, Keras 3 .weights.h5).
/// libhdf5 opens files by path, so the input is written to a temporary file first.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKerasHDF5(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let path = try FuzzHarness.temporaryFile(bytes, suffix: ".h5")
        let bundle = try KerasH5Reader.read(path: path)
        try FuzzHarness.exercise(bundle)
    }
}
