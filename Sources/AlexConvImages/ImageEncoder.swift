import AlexConvCore
import CImageCodecs
import Foundation

// MARK: - Encoding and thumbnails (for reports)

/// Encodes RGB images as JPEG (libjpeg-turbo) and makes the small thumbnails reports embed.
public enum ImageEncoder {
    /// Baseline JPEG bytes of `image` at `quality` (1-100).
    public static func jpeg(_ image: RGBImage, quality: Int = 85) throws -> [UInt8] {
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3 else {
            throw FormatError(.malformed, "cannot encode a \(image.width)x\(image.height) image of \(image.pixels.count) bytes")
        }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: 200)
        let ok = image.pixels.withUnsafeBufferPointer { pixels in
            acx_encode_jpeg(
                pixels.baseAddress, UInt32(image.width), UInt32(image.height), Int32(min(max(quality, 1), 100)),
                &buffer, &size, &message, message.count)
        }
        defer { if let buffer { acx_jpeg_free(buffer) } }
        guard ok == 1, let buffer else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw FormatError(.malformed, "JPEG encoding failed: \(text.isEmpty ? "encoder failed" : text)")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// `image` scaled down (antialiased, aspect kept) so that its longer side is at most `maxSide`.
    public static func thumbnail(_ image: RGBImage, maxSide: Int) -> RGBImage {
        let longer = max(image.width, image.height)
        guard longer > maxSide, maxSide > 0 else { return image }
        let width = max(1, image.width * maxSide / longer)
        let height = max(1, image.height * maxSide / longer)
        let floats = ImagePreprocessor.resize(image, height: height, width: width)
        return RGBImage(width: width, height: height, pixels: floats.map { UInt8(clamping: Int($0.rounded())) })
    }

    /// A `data:image/jpeg;base64,...` URI of the image at `path` as a thumbnail of at most `maxSide`
    /// pixels (decoded with DCT scaling where the file is a large JPEG).
    public static func thumbnailDataURI(path: String, maxSide: Int = 112, quality: Int = 80) throws -> String {
        let image = try ImageDecoder.decode(path: path, atLeast: (maxSide / 2, maxSide / 2))
        let bytes = try withFileContext(path) { try jpeg(thumbnail(image, maxSide: maxSide), quality: quality) }
        return "data:image/jpeg;base64," + Data(bytes).base64EncodedString()
    }
}
