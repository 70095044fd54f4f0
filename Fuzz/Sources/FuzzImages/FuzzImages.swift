import AlexConv
import AlexConvImages
import FuzzSupport

/// Image decoders: PNG (libpng) and JPEG (libjpeg) through the setjmp shim, PPM/PGM in Swift.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImages(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let image = try ImageDecoder.decode(bytes)
        if image.pixels.count != image.width * image.height * 3 {
            fatalError("fuzz finding: decoded \(image.pixels.count) bytes for \(image.width)x\(image.height) RGB")
        }
    }
}
