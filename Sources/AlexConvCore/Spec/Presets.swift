import Foundation

/// The architectures alexconv knows by name (docs/contract.md). Widths come from the tensors; a
/// preset fixes the structure: kernels, strides, paddings, groups, LRN/BN placement, pools and
/// input conventions.
public struct Preset: Sendable {
    /// Preset name as given to `--arch`.
    public let name: String
    /// One line for `inspect` and `--help`.
    public let summary: String
    /// The published widths: five conv output channel counts and the two hidden fc widths.
    public let convWidths: [Int]
    public let fcWidths: [Int]
    /// Groups of each conv (two towers where 2).
    public let groups: [Int]
    /// Whether each conv block has batch normalisation.
    public let hasBatchNorm: Bool
    /// Tensor naming of the files this preset usually comes in (evidence for detection).
    public let namingHints: [String]
    /// The weight layout files of this preset usually have (evidence for detection): bvlc npy and
    /// Keras files are channels-last, PyTorch files channels-first.
    public let usualLayout: WeightLayout
    let build: @Sendable (_ conv: [Int], _ fc: [Int], _ classes: Int) -> ArchitectureSpec

    /// The spec with the given widths (five convs, two hidden fc) and class count.
    public func spec(convWidths: [Int]? = nil, fcWidths: [Int]? = nil, classes: Int = 1000) -> ArchitectureSpec {
        build(convWidths ?? self.convWidths, fcWidths ?? self.fcWidths, classes)
    }
}

public enum Presets {
    /// All presets, in the order detection prefers them when several fit.
    public static let all: [Preset] = [caffeAlexNet, caffeNet, torchvision, alexnetV1, alexnetV2, half, kerasBN, alexnet8, keras2048]

    /// The preset called `name`, if any.
    public static func named(_ name: String) -> Preset? { all.first { $0.name == name } }

    // MARK: - Input conventions (the one place they are written; importers that must guess use these)

    /// Caffe's BVLC models: BGR, 0-255 pixels minus the ImageNet mean (104, 117, 123) in BGR order,
    /// 227x227 centre crops of the image warped to 256x256 (Caffe's ILSVRC preparation).
    public static func caffeInput(height: Int = 227, width: Int = 227) -> InputSpec {
        InputSpec(
            height: height, width: width, channelOrder: .bgr, scale: 1,
            mean: [104, 117, 123], std: [1, 1, 1], resize: 256, resizeMode: .warp)
    }
    /// torchvision's ImageNet normalisation: RGB, x/255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225),
    /// centre crops after the shorter side is resized to 256.
    public static func imagenetInput(height: Int = 224, width: Int = 224) -> InputSpec {
        InputSpec(
            height: height, width: width, channelOrder: .rgb, scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256, resizeMode: .shorterSide)
    }
    /// The Keras tutorials' convention: RGB, x/255, no mean or std, 227x227 crops after the shorter side is resized to 256.
    public static func kerasInput(height: Int = 227, width: Int = 227) -> InputSpec {
        InputSpec(
            height: height, width: width, channelOrder: .rgb, scale: 1.0 / 255.0,
            mean: [0, 0, 0], std: [1, 1, 1], resize: 256, resizeMode: .shorterSide)
    }
    static let pool = LayerSpec.maxPool(PoolSpec(kernel: 3, stride: 2))
    static let lrn = LayerSpec.lrn(LRNSpec(size: 5, alpha: 1e-4, beta: 0.75, k: 1))

    /// Five conv layers with the usual AlexNet kernels; `conv1Padding` 0 (227 input) or 2 (224 input).
    static func convs(_ w: [Int], conv1Padding: Int, groups: [Int] = [1, 1, 1, 1, 1]) -> [ConvSpec] {
        [
            ConvSpec(name: "conv1", outChannels: w[0], kernel: 11, stride: 4, padding: conv1Padding, groups: groups[0]),
            ConvSpec(name: "conv2", outChannels: w[1], kernel: 5, stride: 1, padding: 2, groups: groups[1]),
            ConvSpec(name: "conv3", outChannels: w[2], kernel: 3, stride: 1, padding: 1, groups: groups[2]),
            ConvSpec(name: "conv4", outChannels: w[3], kernel: 3, stride: 1, padding: 1, groups: groups[3]),
            ConvSpec(name: "conv5", outChannels: w[4], kernel: 3, stride: 1, padding: 1, groups: groups[4]),
        ]
    }

    static func classifier(
        _ fc: [Int], _ classes: Int, dropoutFirst: Bool, relu: Bool = true,
        dropout: Bool = true, softmax: Bool
    ) -> [LayerSpec] {
        var layers: [LayerSpec] = [.flatten]
        let widths = fc + [classes]
        for (i, width) in widths.enumerated() {
            let last = i == widths.count - 1
            if dropout && dropoutFirst && !last { layers.append(.dropout(0.5)) }
            layers.append(.dense(DenseSpec(name: "fc\(6 + i)", outFeatures: width)))
            if !last {
                if relu { layers.append(.relu) }
                if dropout && !dropoutFirst { layers.append(.dropout(0.5)) }
            }
        }
        if softmax { layers.append(.softmax) }
        return layers
    }

    static func caffe(name: String, lrnBeforePool: Bool) -> @Sendable (_ w: [Int], _ fc: [Int], _ n: Int) -> ArchitectureSpec {
        { w, fc, n in
            let c = convs(w, conv1Padding: 0, groups: [1, 2, 1, 2, 2])
            let norm: [LayerSpec] = lrnBeforePool ? [lrn, pool] : [pool, lrn]
            var layers: [LayerSpec] = [.conv(c[0]), .relu] + norm + [.conv(c[1]), .relu] + norm
            layers += [.conv(c[2]), .relu, .conv(c[3]), .relu, .conv(c[4]), .relu, pool]
            layers += classifier(fc, n, dropoutFirst: false, softmax: true)
            return ArchitectureSpec(name: name, input: caffeInput(), layers: layers)
        }
    }

    public static let caffeAlexNet = Preset(
        name: "caffe-alexnet",
        summary: "BVLC AlexNet: two towers (groups 2 on conv2/4/5), LRN then pool, 227 BGR input minus mean (104, 117, 123)",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 2, 1, 2, 2], hasBatchNorm: false,
        namingHints: ["conv1", "fc6"], usualLayout: .channelsLast, build: caffe(name: "caffe-alexnet", lrnBeforePool: true))

    public static let caffeNet = Preset(
        name: "caffenet",
        summary: "BVLC reference CaffeNet: same tensors as caffe-alexnet, pool before LRN",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 2, 1, 2, 2], hasBatchNorm: false,
        namingHints: ["conv1", "fc6"], usualLayout: .channelsLast, build: caffe(name: "caffenet", lrnBeforePool: false))

    public static let torchvision = Preset(
        name: "torchvision",
        summary: "torchvision AlexNet: one tower 64-192-384-256-256, no LRN, adaptive average pool 6x6, 224 RGB ImageNet normalisation",
        convWidths: [64, 192, 384, 256, 256], fcWidths: [4096, 4096], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["features.0", "features.3", "features.6", "features.8", "features.10", "classifier.1"], usualLayout: .channelsFirst,
        build: { w, fc, n in
            let c = convs(w, conv1Padding: 2)
            var layers: [LayerSpec] = [
                .conv(c[0]), .relu, pool, .conv(c[1]), .relu, pool,
                .conv(c[2]), .relu, .conv(c[3]), .relu, .conv(c[4]), .relu, pool,
                .adaptiveAvgPool([6, 6]),
            ]
            layers += classifier(fc, n, dropoutFirst: true, softmax: false)
            return ArchitectureSpec(name: "torchvision", input: imagenetInput(), layers: layers)
        })

    static func lrnOneTower(name: String) -> @Sendable (_ w: [Int], _ fc: [Int], _ n: Int) -> ArchitectureSpec {
        { w, fc, n in
            let c = convs(w, conv1Padding: 2)
            var layers: [LayerSpec] = [
                .conv(c[0]), .relu, lrn, pool, .conv(c[1]), .relu, lrn, pool,
                .conv(c[2]), .relu, .conv(c[3]), .relu, .conv(c[4]), .relu, pool,
            ]
            layers += classifier(fc, n, dropoutFirst: true, softmax: false)
            return ArchitectureSpec(name: name, input: imagenetInput(), layers: layers)
        }
    }

    public static let alexnetV1 = Preset(
        name: "alexnet-v1",
        summary: "one tower 96-256-384-384-256, conv1 11/4/2, LRN(5) after ReLU in blocks 1-2, 224 RGB",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["features.0", "features.4", "features.8", "features.10", "features.12", "classifier.1"], usualLayout: .channelsFirst,
        build: lrnOneTower(name: "alexnet-v1"))

    public static let alexnetV2 = Preset(
        name: "alexnet-v2",
        summary: "one tower 64-192-384-384-256, otherwise as alexnet-v1",
        convWidths: [64, 192, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["features.0", "features.4", "features.8", "features.10", "features.12", "classifier.1"], usualLayout: .channelsFirst,
        build: lrnOneTower(name: "alexnet-v2"))

    public static let half = Preset(
        name: "half",
        summary: "half width 48-128-192-192-128, conv1 11/4/2, no LRN, fc 2048-2048-N, 224 RGB",
        convWidths: [48, 128, 192, 192, 128], fcWidths: [2048, 2048], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["features.0", "features.3", "features.6", "features.8", "features.10", "classifier.1"], usualLayout: .channelsFirst,
        build: { w, fc, n in
            let c = convs(w, conv1Padding: 2)
            var layers: [LayerSpec] = [
                .conv(c[0]), .relu, pool, .conv(c[1]), .relu, pool,
                .conv(c[2]), .relu, .conv(c[3]), .relu, .conv(c[4]), .relu, pool,
            ]
            layers += classifier(fc, n, dropoutFirst: true, softmax: false)
            return ArchitectureSpec(name: "half", input: imagenetInput(), layers: layers)
        })

    public static let kerasBN = Preset(
        name: "keras-bn",
        summary: "Keras Sequential: Conv2D(relu) + BatchNormalization (epsilon 1e-3) after every conv, pools after 1, 2, 5, conv1 valid at 227, Dense 4096-4096-N softmax",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 1, 1, 1, 1], hasBatchNorm: true,
        namingHints: ["conv2d", "batch_normalization", "dense"], usualLayout: .channelsLast,
        build: { w, fc, n in
            let c = convs(w, conv1Padding: 0)
            func bn(_ i: Int) -> LayerSpec { .batchNorm(BatchNormSpec(name: "bn\(i)", epsilon: 1e-3)) }
            var layers: [LayerSpec] = [
                .conv(c[0]), .relu, bn(1), pool, .conv(c[1]), .relu, bn(2), pool,
                .conv(c[2]), .relu, bn(3), .conv(c[3]), .relu, bn(4),
                .conv(c[4]), .relu, bn(5), pool,
            ]
            layers += classifier(fc, n, dropoutFirst: false, softmax: true)
            return ArchitectureSpec(name: "keras-bn", input: kerasInput(), layers: layers)
        })

    public static let alexnet8 = Preset(
        name: "alexnet8",
        summary: "227 input, conv1 11/4/0, LRN(5) then pool in blocks 1-2, no ReLU anywhere, fc 4096-4096-N",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [4096, 4096], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["layer1.0", "layer2.0", "layer3", "layer4", "layer5.0", "layer6"], usualLayout: .channelsFirst,
        build: { w, fc, n in
            let c = convs(w, conv1Padding: 0)
            var layers: [LayerSpec] = [
                .conv(c[0]), lrn, pool, .conv(c[1]), lrn, pool,
                .conv(c[2]), .conv(c[3]), .conv(c[4]), pool,
            ]
            layers += classifier(fc, n, dropoutFirst: false, relu: false, dropout: false, softmax: false)
            var input = imagenetInput(height: 227, width: 227)
            input.resize = 256
            return ArchitectureSpec(name: "alexnet8", input: input, layers: layers)
        })

    public static let keras2048 = Preset(
        name: "keras-2048",
        summary: "Keras: 96-256-384-384-256, conv1 valid at 227, no LRN/BN, Dense 2048-2048-N softmax",
        convWidths: [96, 256, 384, 384, 256], fcWidths: [2048, 2048], groups: [1, 1, 1, 1, 1], hasBatchNorm: false,
        namingHints: ["conv2d", "dense", "conv1", "fc6"], usualLayout: .channelsLast,
        build: { w, fc, n in
            let c = convs(w, conv1Padding: 0)
            var layers: [LayerSpec] = [
                .conv(c[0]), .relu, pool, .conv(c[1]), .relu, pool,
                .conv(c[2]), .relu, .conv(c[3]), .relu, .conv(c[4]), .relu, pool,
            ]
            layers += classifier(fc, n, dropoutFirst: false, softmax: true)
            return ArchitectureSpec(name: "keras-2048", input: kerasInput(), layers: layers)
        })
}
