import AlexConv
import AlexConvTorch
import FuzzSupport

/// torch.save files: the zip layout (data.pkl, data/<key>, byteorder) and legacy pickle streams;
/// storage references, views, checkpoints.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorchArchive(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let bundle = try TorchArchiveReader.read(storage: FuzzHarness.storage(bytes), path: "fuzz.pth")
        try FuzzHarness.exercise(bundle)
    }
}
