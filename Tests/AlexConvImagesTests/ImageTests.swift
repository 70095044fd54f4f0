import AlexConvCore
import AlexConvImages
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

@Suite("Images: decoding and preprocessing")
struct ImageTests {
    @Test func decodesPNGAndJPEG() throws {
        let png = try ImageDecoder.decode(path: FixturePaths.path("images/chelsea.png"))
        #expect(png.width == 271 && png.height == 180 && png.pixels.count == 271 * 180 * 3)
        let jpeg = try ImageDecoder.decode(path: FixturePaths.path("images/coffee.jpg"))
        #expect(jpeg.width == 360 && jpeg.height == 240)
        // The same photograph as PNG and JPEG decodes to nearly the same pixels (JPEG is lossy).
        let coffee = try ImageDecoder.decode(path: FixturePaths.path("images/coffee.png"))
        #expect(coffee.width == 240 && coffee.height == 160)
    }

    @Test func decodesPPMBinaryTextAndGray() throws {
        let p6 = Array("P6\n# a comment\n2 1\n255\n".utf8) + [255, 0, 0, 0, 128, 255]
        let a = try p6.withUnsafeBytes { try ImageDecoder.decode($0) }
        #expect(a.width == 2 && a.height == 1 && a.pixels == [255, 0, 0, 0, 128, 255])
        let p3 = Array("P3 2 1 15\n15 0 0  0 8 15\n".utf8)
        let b = try p3.withUnsafeBytes { try ImageDecoder.decode($0) }
        #expect(b.pixels == [255, 0, 0, 0, 136, 255])
        let p5 = Array("P5 2 1 255\n".utf8) + [7, 9]
        let c = try p5.withUnsafeBytes { try ImageDecoder.decode($0) }
        #expect(c.pixels == [7, 7, 7, 9, 9, 9])
    }

    @Test func corruptImagesAreErrorsNotCrashes() throws {
        let pngBytes = Array(try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("images/chelsea.png"))))
        let jpegBytes = Array(try Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("images/coffee.jpg"))))
        // Garbage right after the start-of-image marker (libjpeg, like PIL, decodes corrupt entropy
        // data with warnings; a broken header is an error).
        let corruptJPEG: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08] + Array(repeating: 0x00, count: 40)
        let bad: [(String, [UInt8])] = [
            ("truncated PNG", Array(pngBytes.prefix(pngBytes.count / 2))),
            ("PNG header only", Array(pngBytes.prefix(40))),
            ("truncated JPEG", Array(jpegBytes.prefix(jpegBytes.count / 2))),
            ("JPEG marker only", [0xFF, 0xD8, 0xFF, 0xE0]),
            ("corrupt JPEG", corruptJPEG),
            ("PPM truncated", Array("P6 4 4 255\n".utf8) + [1, 2, 3]),
            ("PPM huge", Array("P6 99999 99999 255\n".utf8)),
            ("PPM text claims 100M samples", Array("P3 9999 9999 255\n1 2 3\n".utf8)),
            ("PPM bad maxval", Array("P6 1 1 0\n".utf8) + [0, 0, 0]),
            ("not an image", Array("hello world".utf8)),
            ("empty", []),
        ]
        for (label, bytes) in bad {
            do {
                _ = try bytes.withUnsafeBytes { try ImageDecoder.decode($0) }
                Issue.record("\(label): decoded without an error")
            } catch let error as FormatError {
                #expect(!error.detail.isEmpty)
            }
        }
        let path = FixturePaths.temporaryDirectory("images") + "/broken.png"
        try Data(pngBytes.prefix(100)).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ImageDecoder.decode(path: path)
            Issue.record("truncated file decoded")
        } catch let error as FormatError {
            #expect(error.file == path)
            #expect(error.exitCode == 3)
        }
    }

    /// The preprocessing matches the fixture script's (torch's antialiased bilinear resize,
    /// torchvision's centre crop, channel order, mean/std) on every 7th row and column.
    @Test(arguments: ["chelsea.png", "coffee.jpg"], ["torchvision", "caffe-alexnet"])
    func preprocessingMatchesTorch(_ image: String, _ preset: String) throws {
        let input = try ForwardFixtures.model(preset).spec.input
        let x = try ImagePreprocessor.tensor(for: try ImageDecoder.decode(path: FixturePaths.path("images/\(image)")), input: input)
        #expect(x.shape == [1, 3, input.height, input.width])
        let golden = try NumPyReader.readArray(path: FixturePaths.path("forward/\(image).\(preset).sample.npy"))
        let rows = (input.height + 6) / 7
        let cols = (input.width + 6) / 7
        #expect(golden.shape == [1, 3, rows, cols])
        let values = x.floats()
        let expected = golden.floats()
        var worst: Float = 0
        for c in 0..<3 {
            for r in 0..<rows {
                for q in 0..<cols {
                    let a = values[(c * input.height + r * 7) * input.width + q * 7]
                    let b = expected[(c * rows + r) * cols + q]
                    worst = max(worst, abs(a - b))
                }
            }
        }
        // Pixel units: 1/255 of the 0-255 range divided by std (~4.4) would be 0.017 for torchvision;
        // the JPEG decoders (PIL's libjpeg vs ours) may differ by a level or two.
        let limit: Float = image.hasSuffix(".png") ? 1e-3 * Float(1 / (input.std.min()! / input.scale / 255)) : 0.05 * Float(255 * input.scale / input.std.min()!)
        #expect(worst <= limit, "\(image) \(preset): worst difference \(worst)")
    }

    /// A spec (from a file's metadata) may record any resize: the preprocessing refuses one whose
    /// resized image exceeds the pixel limit before allocating it.
    @Test func hugeRecordedResizeIsAnErrorNotAnAllocation() throws {
        var input = try ForwardFixtures.model("torchvision").spec.input
        input.resize = 1_000_000
        let image = RGBImage(width: 4, height: 3, pixels: [UInt8](repeating: 9, count: 36))
        #expect(throws: FormatError.self) { _ = try ImagePreprocessor.tensor(for: image, input: input) }
        do {
            _ = try ImagePreprocessor.tensor(for: image, input: input)
        } catch let error as FormatError {
            #expect(error.kind == .limit && error.exitCode == 3)
        }
    }

    @Test func classNames() {
        #expect(ImageNetClasses.names.count == 1000)
        #expect(ImageNetClasses.label(285, classes: 1000) == "Egyptian cat")
        #expect(ImageNetClasses.label(3, classes: 10) == "class 3")
    }
}
