import Foundation

/// The activation shape between layers: (C, H, W) before flatten, (N) after. Batch excluded.
public enum ActivationShape: Equatable, Sendable, CustomStringConvertible {
    case map(channels: Int, height: Int, width: Int)
    case vector(Int)

    public var count: Int {
        switch self {
        case .map(let c, let h, let w): return c * h * w
        case .vector(let n): return n
        }
    }

    public var description: String {
        switch self {
        case .map(let c, let h, let w): return "\(c)x\(h)x\(w)"
        case .vector(let n): return "\(n)"
        }
    }
}

/// Output length of a window sliding over `size` with padding, kernel and stride (floor or ceil mode;
/// ceil follows PyTorch: the last window must start inside the input or left padding).
public func windowOutputLength(size: Int, padBegin: Int, padEnd: Int, kernel: Int, stride: Int, ceil: Bool) -> Int {
    let span = size + padBegin + padEnd - kernel
    if span < 0 { return 0 }
    var out = (ceil ? (span + stride - 1) / stride : span / stride) + 1
    if ceil && (out - 1) * stride >= size + padBegin { out -= 1 }
    return out
}

extension ArchitectureSpec {
    /// Largest input size, channel or feature count, kernel, stride or padding a spec may state
    /// (far above any AlexNet; keeps shape arithmetic far from overflow).
    public static let maxDimension = 1 << 20

    /// The activation shape after each layer, for one input of the spec's size. Throws a
    /// `ModelError` for any layer whose sizes are malformed, so it is safe on any decoded spec.
    public func activationShapes() throws -> [ActivationShape] {
        let limit = Self.maxDimension
        guard [input.channels, input.height, input.width].allSatisfy({ (1...limit).contains($0) }) else {
            throw ModelError("architecture \(name): input \(input.channels)x\(input.height)x\(input.width) needs channels, height and width in 1...\(limit)")
        }
        var current = ActivationShape.map(channels: input.channels, height: input.height, width: input.width)
        var shapes: [ActivationShape] = []
        for (index, layer) in layers.enumerated() {
            func fail(_ message: String) -> ModelError {
                ModelError("architecture \(name): layer \(index + 1) (\(layer.typeName)): \(message)")
            }
            /// Kernel [h,w] and stride [h,w] in 1...limit, padding [top,left,bottom,right] in 0...limit.
            func checkWindow(kernel: [Int], stride: [Int], padding: [Int]) throws {
                guard kernel.count == 2, stride.count == 2, padding.count == 4,
                    kernel.allSatisfy({ (1...limit).contains($0) }), stride.allSatisfy({ (1...limit).contains($0) }),
                    padding.allSatisfy({ (0...limit).contains($0) })
                else {
                    throw fail("needs kernel [h,w] and stride [h,w] in 1...\(limit) and padding [top,left,bottom,right] in 0...\(limit); got kernel \(kernel), stride \(stride), padding \(padding)")
                }
            }
            switch layer {
            case .conv(let c):
                guard case .map(let ch, let h, let w) = current else { throw fail("needs a feature map, got a vector") }
                try checkWindow(kernel: c.kernel, stride: c.stride, padding: c.padding)
                guard (1...limit).contains(c.outChannels) else { throw fail("output channels \(c.outChannels) outside 1...\(limit)") }
                guard c.groups > 0, ch % c.groups == 0, c.outChannels % c.groups == 0 else {
                    throw fail("\(ch) input and \(c.outChannels) output channels do not split into \(c.groups) groups")
                }
                let oh = windowOutputLength(size: h, padBegin: c.padding[0], padEnd: c.padding[2], kernel: c.kernel[0], stride: c.stride[0], ceil: false)
                let ow = windowOutputLength(size: w, padBegin: c.padding[1], padEnd: c.padding[3], kernel: c.kernel[1], stride: c.stride[1], ceil: false)
                guard oh > 0, ow > 0 else { throw fail("input \(h)x\(w) is smaller than the kernel \(c.kernel)") }
                current = .map(channels: c.outChannels, height: oh, width: ow)
            case .maxPool(let p), .avgPool(let p):
                guard case .map(let ch, let h, let w) = current else { throw fail("needs a feature map, got a vector") }
                try checkWindow(kernel: p.kernel, stride: p.stride, padding: p.padding)
                let oh = windowOutputLength(size: h, padBegin: p.padding[0], padEnd: p.padding[2], kernel: p.kernel[0], stride: p.stride[0], ceil: p.ceilMode)
                let ow = windowOutputLength(size: w, padBegin: p.padding[1], padEnd: p.padding[3], kernel: p.kernel[1], stride: p.stride[1], ceil: p.ceilMode)
                guard oh > 0, ow > 0 else { throw fail("input \(h)x\(w) is smaller than the pool window \(p.kernel)") }
                current = .map(channels: ch, height: oh, width: ow)
            case .adaptiveAvgPool(let size):
                guard case .map(let ch, _, _) = current else { throw fail("needs a feature map, got a vector") }
                guard size.count == 2, size.allSatisfy({ (1...limit).contains($0) }) else {
                    throw fail("needs an output size [h,w] in 1...\(limit), got \(size)")
                }
                current = .map(channels: ch, height: size[0], width: size[1])
            case .flatten:
                guard case .map(let c, let h, let w) = current else { break }
                let (area, overflowArea) = h.multipliedReportingOverflow(by: w)
                let (count, overflowCount) = area.multipliedReportingOverflow(by: c)
                guard !overflowArea, !overflowCount, count <= 1 << 40 else { throw fail("\(c)x\(h)x\(w) features are too many") }
                current = .vector(count)
            case .dense(let d):
                guard case .vector = current else { throw fail("needs a vector: add a flatten layer before it") }
                guard (1...limit).contains(d.outFeatures) else { throw fail("output features \(d.outFeatures) outside 1...\(limit)") }
                current = .vector(d.outFeatures)
            case .lrn, .relu, .dropout, .softmax, .batchNorm:
                break
            }
            shapes.append(current)
        }
        return shapes
    }

    /// The canonical tensors this spec needs, in order: name and shape.
    public func expectedTensors() throws -> [(name: String, shape: [Int])] {
        let shapes = try activationShapes()
        var previous = ActivationShape.map(channels: input.channels, height: input.height, width: input.width)
        var result: [(String, [Int])] = []
        for (layer, shape) in zip(layers, shapes) {
            switch layer {
            case .conv(let c):
                guard case .map(let ch, _, _) = previous else { break }
                result.append(("\(c.name).weight", [c.outChannels, ch / c.groups, c.kernel[0], c.kernel[1]]))
                if c.bias { result.append(("\(c.name).bias", [c.outChannels])) }
            case .batchNorm(let b):
                let channels: Int
                switch previous {
                case .map(let ch, _, _): channels = ch
                case .vector(let n): channels = n
                }
                for suffix in ["weight", "bias", "running_mean", "running_var"] {
                    result.append(("\(b.name).\(suffix)", [channels]))
                }
            case .dense(let d):
                result.append(("\(d.name).weight", [d.outFeatures, previous.count]))
                if d.bias { result.append(("\(d.name).bias", [d.outFeatures])) }
            default:
                break
            }
            previous = shape
        }
        return result
    }

    /// The feature map fc-layer input comes from: shape (C, H, W) at the flatten before the first dense.
    public func flattenedMap() throws -> (channels: Int, height: Int, width: Int)? {
        let shapes = try activationShapes()
        var previous = ActivationShape.map(channels: input.channels, height: input.height, width: input.width)
        for (layer, shape) in zip(layers, shapes) {
            if case .flatten = layer, case .map(let c, let h, let w) = previous { return (c, h, w) }
            previous = shape
        }
        return nil
    }

    /// Checks the spec is self-consistent (names unique, groups divide channels, shapes positive).
    public func validate() throws {
        _ = try activationShapes()
        var names = Set<String>()
        for layer in layers {
            let name: String?
            switch layer {
            case .conv(let c): name = c.name  // sizes checked by activationShapes
            case .lrn(let l):
                guard l.size > 0 else { throw ModelError("architecture \(self.name): lrn size must be positive") }
                name = nil
            case .batchNorm(let b): name = b.name
            case .dense(let d): name = d.name
            default: name = nil
            }
            if let name {
                guard names.insert(name).inserted else {
                    throw ModelError("architecture \(self.name): layer name '\(name)' used twice")
                }
            }
        }
        guard input.mean.count == input.channels, input.std.count == input.channels else {
            throw ModelError("architecture \(name): input mean and std need \(input.channels) values each")
        }
        if let image = input.meanImage {
            let limit = Self.maxDimension
            guard image.channels == input.channels, (input.height...limit).contains(image.height),
                (input.width...limit).contains(image.width),
                image.values.count == image.channels * image.height * image.width
            else {
                throw ModelError(
                    "architecture \(name): the mean image (\(image.channels)x\(image.height)x\(image.width), \(image.values.count) values) needs \(input.channels) channels, at least the \(input.height)x\(input.width) input and one value per pixel"
                )
            }
        }
    }
}
