import AlexConvCore
import Foundation

// MARK: - Preprocessing

/// Turns images into the network's input batch by the model's recorded `InputSpec`: resize with
/// antialiased bilinear filtering (PIL's and `torch.nn.functional.interpolate(antialias=True)`'s
/// triangle filter, computed in float) by the spec's `resizeMode` (torchvision's shorter side to
/// `resize`, or Caffe's warp of both sides to `resize` x `resize`), centre-crop `height` x `width`
/// (torchvision's rounding), order channels, and `(pixel * scale - mean) / std` (with a mean image:
/// its centre crop, pixel by pixel). Only the pixels of the crop are computed.
public enum ImagePreprocessor {
    /// A (1, C, H, W) float32 tensor for `image` under `input`.
    public static func tensor(for image: RGBImage, input: InputSpec) throws -> Tensor {
        try batch([image], input: input)
    }

    /// A (N, C, H, W) float32 batch of `images`.
    public static func batch(_ images: [RGBImage], input: InputSpec) throws -> Tensor {
        try checkInput(input, count: images.count)
        let itemCount = 3 * input.height * input.width
        var values = [Float](repeating: 0, count: images.count * itemCount)
        try values.withUnsafeMutableBufferPointer { buffer in
            for (n, image) in images.enumerated() {
                do {
                    try write(image, input: input, into: UnsafeMutableBufferPointer(rebasing: buffer[(n * itemCount)..<((n + 1) * itemCount)]))
                } catch var error as FormatError {
                    if error.location == nil { error.location = "image \(n + 1)" }
                    throw error
                }
            }
        }
        return Tensor(values, shape: [images.count, 3, input.height, input.width])
    }

    /// Checks that `input` describes an RGB input this preprocessing can produce for `count` images
    /// (size limits, a mean image that covers the crop).
    public static func checkInput(_ input: InputSpec, count: Int = 1) throws {
        guard input.channels == 3 else {
            throw FormatError(.unsupported, "the model takes \(input.channels)-channel input; images give 3 (RGB)")
        }
        let h = input.height
        let w = input.width
        guard h > 0, w > 0, max(count, 1) * h <= ImageDecoder.maxPixels / w else {
            throw FormatError(.limit, "input size \(w)x\(h) for \(count) images exceeds the limit of \(ImageDecoder.maxPixels) pixels")
        }
        guard input.mean.count >= 3, input.std.count >= 3 else {
            throw FormatError(.malformed, "the input spec has \(input.mean.count) means and \(input.std.count) standard deviations; 3 channels need 3 of each")
        }
        if let image = input.meanImage {
            guard image.channels == 3, image.height >= h, image.width >= w, image.values.count == 3 * image.height * image.width else {
                throw FormatError(.malformed, "the mean image (\(image.channels)x\(image.height)x\(image.width)) does not cover the 3x\(h)x\(w) input")
            }
        }
    }

    /// Writes one image's (3, H, W) float32 input, preprocessed by `input`, into `output`
    /// (exactly 3 * height * width elements). Call `checkInput` once first.
    public static func write(_ image: RGBImage, input: InputSpec, into output: UnsafeMutableBufferPointer<Float>) throws {
        let h = input.height
        let w = input.width
        precondition(output.count == 3 * h * w, "output holds \(output.count) floats, expected \(3 * h * w)")
        let (resizedH, resizedW) = resizedSize(image, input)
        guard resizedH > 0, resizedW > 0, resizedH <= ImageDecoder.maxPixels / max(resizedW, 1) else {
            throw FormatError(.limit, "resizing a \(image.width)x\(image.height) image to \(resizedW)x\(resizedH) exceeds the limit of \(ImageDecoder.maxPixels) pixels")
        }
        let top = Int((Double(resizedH - h) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(resizedW - w) / 2).rounded(.toNearestOrEven))
        guard top >= 0, left >= 0 else {
            throw FormatError(.malformed, "resized image \(resizedW)x\(resizedH) is smaller than the crop \(w)x\(h)")
        }
        let crop = resizeCrop(image, height: resizedH, width: resizedW, top: top, left: left, cropHeight: h, cropWidth: w)
        crop.withUnsafeBufferPointer { pixels in
            for c in 0..<3 {
                let source = input.channelOrder == .rgb ? c : 2 - c
                let mean = input.mean[c]
                let std = input.std[c]
                let scale = input.scale
                let plane = c * h * w
                if let meanImage = input.meanImage {
                    // A mean image (Caffe mean file) is subtracted pixel by pixel, its centre crop.
                    for y in 0..<h {
                        for x in 0..<w {
                            let pixel = Double(pixels[(y * w + x) * 3 + source])
                            let subtracted = Double(meanImage.centred(channel: c, y: y, x: x, cropHeight: h, cropWidth: w))
                            output[plane + y * w + x] = Float((pixel * scale - subtracted) / std)
                        }
                    }
                } else {
                    for i in 0..<(h * w) {
                        output[plane + i] = Float((Double(pixels[i * 3 + source]) * scale - mean) / std)
                    }
                }
            }
        }
    }

    /// The smallest image (width, height) whose resize step still downsamples (or keeps) every
    /// side under `input`: decoders may reduce larger images to about this size first.
    public static func smallestUsefulSize(_ input: InputSpec) -> (width: Int, height: Int) {
        guard let size = input.resize else { return (input.width, input.height) }
        return (max(size, input.width), max(size, input.height))
    }

    /// Size (height, width) after the resize step: shorter side to `resize` (longer side truncated as
    /// torchvision does) or both sides to `resize` (warp), or straight to the crop size when the
    /// spec has no resize.
    static func resizedSize(_ image: RGBImage, _ input: InputSpec) -> (Int, Int) {
        guard let size = input.resize else { return (input.height, input.width) }
        if input.effectiveResizeMode == .warp { return (size, size) }
        if image.height <= image.width {
            return (size, Int(Double(size) * Double(image.width) / Double(image.height)))
        }
        return (Int(Double(size) * Double(image.height) / Double(image.width)), size)
    }

    /// Separable antialiased bilinear resize of an RGB image to float pixels (height, width, 3).
    static func resize(_ image: RGBImage, height: Int, width: Int) -> [Float] {
        resizeCrop(image, height: height, width: width, top: 0, left: 0, cropHeight: height, cropWidth: width)
    }

    /// The `cropHeight` x `cropWidth` window at (`top`, `left`) of `image` resized to `height` x
    /// `width`, float pixels (cropHeight, cropWidth, 3): the same values as the full resize, computed
    /// only where the window is (the input rows it needs, the output columns it keeps).
    static func resizeCrop(
        _ image: RGBImage, height: Int, width: Int, top: Int, left: Int,
        cropHeight: Int, cropWidth: Int
    ) -> [Float] {
        let horizontal = FilterTable(inputSize: image.width, outputSize: width, range: left..<(left + cropWidth))
        let vertical = FilterTable(inputSize: image.height, outputSize: height, range: top..<(top + cropHeight))
        // The input rows the window's output rows read.
        var firstRow = image.height
        var lastRow = 0
        for y in 0..<cropHeight where vertical.counts[y] > 0 {
            firstRow = min(firstRow, vertical.starts[y])
            lastRow = max(lastRow, vertical.starts[y] + vertical.counts[y])
        }
        let rowCount = max(0, lastRow - firstRow)
        // Horizontal pass over those rows: (rowCount, cropWidth, 3).
        var rows = [Float](repeating: 0, count: rowCount * cropWidth * 3)
        image.pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                horizontal.weights.withUnsafeBufferPointer { weights in
                    for r in 0..<rowCount {
                        let rowBase = (firstRow + r) * image.width
                        for x in 0..<cropWidth {
                            let start = horizontal.starts[x]
                            let count = horizontal.counts[x]
                            var red: Float = 0
                            var green: Float = 0
                            var blue: Float = 0
                            for k in 0..<count {
                                let weight = weights[x * horizontal.stride + k]
                                let i = (rowBase + start + k) * 3
                                red += weight * Float(src[i])
                                green += weight * Float(src[i + 1])
                                blue += weight * Float(src[i + 2])
                            }
                            let o = (r * cropWidth + x) * 3
                            dst[o] = red
                            dst[o + 1] = green
                            dst[o + 2] = blue
                        }
                    }
                }
            }
        }
        // Vertical pass: (cropHeight, cropWidth, 3).
        var out = [Float](repeating: 0, count: cropHeight * cropWidth * 3)
        let line = cropWidth * 3
        rows.withUnsafeBufferPointer { rows in
            out.withUnsafeMutableBufferPointer { out in
                vertical.weights.withUnsafeBufferPointer { weights in
                    for y in 0..<cropHeight {
                        let start = vertical.starts[y] - firstRow
                        let count = vertical.counts[y]
                        for x in 0..<line {
                            var sum: Float = 0
                            for k in 0..<count { sum += weights[y * vertical.stride + k] * rows[(start + k) * line + x] }
                            out[y * line + x] = sum
                        }
                    }
                }
            }
        }
        return out
    }

    /// For each output index: the first input index and the normalised triangle-filter weights
    /// (ATen's `_compute_indices_weights_aa`: support scales with the downsampling factor).
    static func filterWeights(inputSize: Int, outputSize: Int) -> [(Int, [Float])] {
        let table = FilterTable(inputSize: inputSize, outputSize: outputSize, range: 0..<outputSize)
        return (0..<outputSize).map { i in
            (table.starts[i], Array(table.weights[(i * table.stride)..<(i * table.stride + table.counts[i])]))
        }
    }

    /// The filter taps of the output indices in `range`, flattened (`stride` weights per index).
    struct FilterTable {
        var starts: [Int] = []
        var counts: [Int] = []
        var weights: [Float] = []
        var stride = 0

        init(inputSize: Int, outputSize: Int, range: Range<Int>) {
            let scale = Double(inputSize) / Double(outputSize)
            let support = scale >= 1 ? scale : 1.0
            let invScale = scale >= 1 ? 1 / scale : 1.0
            var taps: [[Float]] = []
            for i in range {
                let center = scale * (Double(i) + 0.5)
                let start = max(Int(center - support + 0.5), 0)
                let end = min(Int(center + support + 0.5), inputSize)
                var raw: [Double] = []
                var total = 0.0
                for j in start..<max(start, end) {
                    let x = abs((Double(j) - center + 0.5) * invScale)
                    let w = x < 1 ? 1 - x : 0
                    raw.append(w)
                    total += w
                }
                starts.append(start)
                counts.append(raw.count)
                taps.append(raw.map { Float(total > 0 ? $0 / total : 0) })
            }
            stride = taps.map(\.count).max() ?? 0
            weights = [Float](repeating: 0, count: taps.count * stride)
            for (i, row) in taps.enumerated() {
                for (k, weight) in row.enumerated() { weights[i * stride + k] = weight }
            }
        }
    }
}
