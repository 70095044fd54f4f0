import AlexConvCore
import Foundation

// MARK: - Preprocessing

/// Turns images into the network's input batch by the model's recorded `InputSpec`, the way
/// torchvision's classic pipeline does: resize the shorter side to `resize` with antialiased
/// bilinear filtering (PIL's and `torch.nn.functional.interpolate(antialias=True)`'s triangle
/// filter, computed in float), centre-crop `height` x `width` (torchvision's rounding), order
/// channels, and `(pixel * scale - mean) / std` (with a mean image: its centre crop, pixel by pixel).
public enum ImagePreprocessor {
    /// A (1, C, H, W) float32 tensor for `image` under `input`.
    public static func tensor(for image: RGBImage, input: InputSpec) throws -> Tensor {
        try batch([image], input: input)
    }

    /// A (N, C, H, W) float32 batch of `images`.
    public static func batch(_ images: [RGBImage], input: InputSpec) throws -> Tensor {
        guard input.channels == 3 else {
            throw FormatError(.unsupported, "the model takes \(input.channels)-channel input; images give 3 (RGB)")
        }
        let h = input.height
        let w = input.width
        guard h > 0, w > 0, images.count * h <= ImageDecoder.maxPixels / w else {
            throw FormatError(.limit, "input size \(w)x\(h) for \(images.count) images exceeds the limit of \(ImageDecoder.maxPixels) pixels")
        }
        if let image = input.meanImage {
            guard image.channels == 3, image.height >= h, image.width >= w, image.values.count == 3 * image.height * image.width else {
                throw FormatError(.malformed, "the mean image (\(image.channels)x\(image.height)x\(image.width)) does not cover the 3x\(h)x\(w) input")
            }
        }
        var values = [Float](repeating: 0, count: images.count * 3 * h * w)
        for (n, image) in images.enumerated() {
            let (resizedH, resizedW) = resizedSize(image, input)
            guard resizedH > 0, resizedW > 0, resizedH <= ImageDecoder.maxPixels / max(resizedW, 1) else {
                throw FormatError(
                    .limit, location: "image \(n + 1)", "resizing a \(image.width)x\(image.height) image to \(resizedW)x\(resizedH) exceeds the limit of \(ImageDecoder.maxPixels) pixels")
            }
            let resized = resize(image, height: resizedH, width: resizedW)
            let top = Int((Double(resizedH - h) / 2).rounded(.toNearestOrEven))
            let left = Int((Double(resizedW - w) / 2).rounded(.toNearestOrEven))
            guard top >= 0, left >= 0 else {
                throw FormatError(.malformed, location: "image \(n + 1)", "resized image \(resizedW)x\(resizedH) is smaller than the crop \(w)x\(h)")
            }
            for c in 0..<3 {
                let source = input.channelOrder == .rgb ? c : 2 - c
                let mean = input.mean[c]
                let std = input.std[c]
                let plane = (n * 3 + c) * h * w
                for y in 0..<h {
                    for x in 0..<w {
                        let pixel = Double(resized[((top + y) * resizedW + left + x) * 3 + source])
                        // A mean image (Caffe mean file) is subtracted pixel by pixel, its centre crop.
                        let subtracted = input.meanImage.map { Double($0.centred(channel: c, y: y, x: x, cropHeight: h, cropWidth: w)) } ?? mean
                        values[plane + y * w + x] = Float((pixel * input.scale - subtracted) / std)
                    }
                }
            }
        }
        return Tensor(values, shape: [images.count, 3, h, w])
    }

    /// Size after the resize step: shorter side to `resize` (longer side truncated as torchvision
    /// does), or straight to the crop size when the spec has no resize.
    static func resizedSize(_ image: RGBImage, _ input: InputSpec) -> (Int, Int) {
        guard let size = input.resize else { return (input.height, input.width) }
        if image.height <= image.width {
            return (size, Int(Double(size) * Double(image.width) / Double(image.height)))
        }
        return (Int(Double(size) * Double(image.height) / Double(image.width)), size)
    }

    /// Separable antialiased bilinear resize of an RGB image to float pixels (height, width, 3).
    static func resize(_ image: RGBImage, height: Int, width: Int) -> [Float] {
        let horizontal = filterWeights(inputSize: image.width, outputSize: width)
        let vertical = filterWeights(inputSize: image.height, outputSize: height)
        // Horizontal pass: (image.height, width, 3).
        var rows = [Float](repeating: 0, count: image.height * width * 3)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                for x in 0..<width {
                    let (start, weights) = horizontal[x]
                    var r: Float = 0
                    var g: Float = 0
                    var b: Float = 0
                    for (k, weight) in weights.enumerated() {
                        let i = (y * image.width + start + k) * 3
                        r += weight * Float(src[i])
                        g += weight * Float(src[i + 1])
                        b += weight * Float(src[i + 2])
                    }
                    let o = (y * width + x) * 3
                    rows[o] = r
                    rows[o + 1] = g
                    rows[o + 2] = b
                }
            }
        }
        // Vertical pass: (height, width, 3).
        var out = [Float](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            let (start, weights) = vertical[y]
            for x in 0..<(width * 3) {
                var sum: Float = 0
                for (k, weight) in weights.enumerated() { sum += weight * rows[(start + k) * width * 3 + x] }
                out[y * width * 3 + x] = sum
            }
        }
        return out
    }

    /// For each output index: the first input index and the normalised triangle-filter weights
    /// (ATen's `_compute_indices_weights_aa`: support scales with the downsampling factor).
    static func filterWeights(inputSize: Int, outputSize: Int) -> [(Int, [Float])] {
        let scale = Double(inputSize) / Double(outputSize)
        let support = scale >= 1 ? scale : 1.0
        let invScale = scale >= 1 ? 1 / scale : 1.0
        return (0..<outputSize).map { i in
            let center = scale * (Double(i) + 0.5)
            let start = max(Int(center - support + 0.5), 0)
            let end = min(Int(center + support + 0.5), inputSize)
            var weights: [Double] = []
            var total = 0.0
            for j in start..<max(start, end) {
                let x = abs((Double(j) - center + 0.5) * invScale)
                let w = x < 1 ? 1 - x : 0
                weights.append(w)
                total += w
            }
            return (start, weights.map { Float(total > 0 ? $0 / total : 0) })
        }
    }
}
