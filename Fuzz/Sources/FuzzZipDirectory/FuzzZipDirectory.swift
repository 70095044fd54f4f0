import AlexConv
import AlexConvZip
import FuzzSupport

/// The zip central directory (zip64, overlaps, ratios) and every entry's bytes (stored views,
/// bounded inflate with CRC check).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZipDirectory(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let archive = try ZipArchive(storage: FuzzHarness.storage(bytes), path: "fuzz.zip")
        for entry in archive.entries {
            _ = try? archive.bytes(of: entry)
            _ = try? archive.verifyChecksum(of: entry)
        }
        // The same bytes as an .npz through the reader (members parsed as .npy).
        let path = try FuzzHarness.temporaryFile(bytes, suffix: ".npz")
        try FuzzHarness.exercise(try FormatRegistry.read(path: path))
    }
}
