import AlexConvCore
import Foundation

/// Reads a Caffe `.caffemodel` (a binary `NetParameter`, V1 `layers` or current `layer`) into a
/// `TensorBundle` whose tensors are in canonical layout under Caffe names: conv `<layer>.weight`
/// (out, in/groups, kh, kw) and `.bias` (out), InnerProduct `<layer>.weight` (out, in) with fc6's
/// input in (C, H, W) order (transposed when the layer says `transpose`), BatchNorm + Scale
/// `<scale>.weight`/`.bias`, `<bn>.running_mean`/`.running_var` (C). The bundle's `spec` is the layer
/// chain of the net: from the prototxt when one is given (or found beside the model), else from
/// the caffemodel's own layers. Blob values view the memory map.
public enum CaffeReader: WeightFileReader {
    public static let formatName = "caffemodel"

    /// `.caffemodel` files (a binary NetParameter has no magic number to sniff).
    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        path.lowercased().hasSuffix(".caffemodel")
    }

    public static func read(path: String) throws -> TensorBundle {
        try read(path: path, options: ReaderOptions())
    }

    /// The prototxt used when none is given: `<stem>.prototxt` (what alexconv writes), else
    /// `deploy.prototxt` (what the model zoo ships), beside the model.
    public static func companionPrototxt(for path: String) -> String? {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        let candidates = [url.deletingPathExtension().lastPathComponent + ".prototxt", "deploy.prototxt"]
        return candidates.map { directory.appendingPathComponent($0).path }
            .first { FileManager.default.fileExists(atPath: $0) }
            .map { path.hasPrefix("/") ? $0 : relative($0) }
    }

    private static func relative(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }

    /// The files a read of `path` uses: the caffemodel, the prototxt (given or found beside it) and the mean.
    public static func inputFiles(path: String, options: ReaderOptions) -> [String] {
        [path] + [options.prototxt ?? companionPrototxt(for: path), options.mean].compactMap { $0 }
    }

    /// Reads the caffemodel at `path` with the prototxt and mean file of `options`.
    public static func read(path: String, options: ReaderOptions) throws -> TensorBundle {
        let storage = try ByteStorage.map(path: path)
        let file = try withFileContext(path) { try CaffeNetFile.read(storage, file: path) }
        let modelNet = try withFileContext(path) {
            try CaffeNet(file.net, layerBlobs: file.layerBlobs, v1LayerBlobs: file.v1LayerBlobs, v1TypeNumbers: file.v1TypeNumbers)
        }
        var notes: [String] = []
        var structure = modelNet
        var weights: [String: [CaffeBlob]]?
        var recorded: ArchitectureSpec?
        let prototxt = options.prototxt ?? companionPrototxt(for: path)
        if let prototxt {
            let text = try CaffePrototxt.readText(path: prototxt)
            let parsed = try CaffePrototxt.decodeNet(text, file: prototxt)
            structure = try withFileContext(prototxt) { try CaffeNet(parsed) }
            recorded = try CaffePrototxt.recordedSpec(in: text, file: prototxt)
            var byName: [String: [CaffeBlob]] = [:]
            for layer in modelNet.layers where !layer.blobs.isEmpty {
                guard byName.updateValue(layer.blobs, forKey: layer.name) == nil else {
                    throw FormatError(.corrupted, file: path, location: layer.label, "another layer with weights has the same name; Caffe matches weights by layer name")
                }
            }
            weights = byName
            let how = options.prototxt == nil ? "found beside the model" : "given"
            notes.append("structure and input from \(prototxt) (\(how)); weights from the caffemodel (\(modelNet.generation.rawValue)), matched by layer name")
        } else {
            notes.append(
                "structure from the caffemodel's own layers (no prototxt given, and no \(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent).prototxt or deploy.prototxt beside it)")
        }
        for blobs in file.layerBlobs + file.v1LayerBlobs { for blob in blobs { notes += blob.notes } }

        var builder = CaffeChainBuilder(
            net: structure, weights: weights, weightsFile: path,
            prototxtFound: prototxt != nil && options.prototxt == nil)
        let chain = try withFileContext(prototxt ?? path) { try builder.run() }
        notes += chain.notes

        let mean = try options.mean.map { try CaffeMean.read(path: $0) }
        var spec = ArchitectureSpec(name: "custom", input: CaffeInputConventions.input(for: chain, notes: &notes), layers: chain.layers)
        if let recorded, let prototxt {
            if try recorded.agreesWith(spec) {
                spec = recorded
                notes.removeAll { $0.hasPrefix(CaffeInputConventions.guessedNote) || $0.hasPrefix(CaffeInputConventions.transformNote) }
                notes.append(
                    "architecture and preprocessing read from the comment '\(CaffePrototxt.specComment.trimmingCharacters(in: .whitespaces))' alexconv wrote in \(prototxt) (\(recorded.name)); the net agrees with it"
                )
            } else {
                notes.append(
                    "the comment '\(CaffePrototxt.specComment.trimmingCharacters(in: .whitespaces))' in \(prototxt) (\(recorded.name)) does not describe this net; using the architecture built from the net"
                )
            }
        }
        if let mean, let meanPath = options.mean {
            spec.input = try withFileContext(meanPath) {
                try CaffeInputConventions.applying(
                    mean, to: spec.input, scale: chain.transform.map { CaffeChainBuilder.decimal($0.scale) } ?? 1,
                    perChannel: options.meanPerChannel, file: meanPath, notes: &notes)
            }
        }
        if spec.name == "custom" { spec.name = CaffeInputConventions.presetName(for: spec, notes: &notes) ?? "custom" }
        try withFileContext(prototxt ?? path) {
            try spec.validate()
            _ = try TensorMatcher.match(chain.canonicalTensors, to: spec)
        }

        var metadata: [String: String] = ["caffe.generation": modelNet.generation.rawValue]
        if !modelNet.name.isEmpty { metadata["caffe.net"] = modelNet.name }
        if let prototxt { metadata["caffe.prototxt"] = prototxt }
        if let meanPath = options.mean { metadata["caffe.mean"] = meanPath }
        let structureWords = prototxt.map { ", structure from \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? ""
        return TensorBundle(
            path: path, format: "caffemodel (\(modelNet.generation.rawValue)\(structureWords))",
            tensors: chain.tensors, layout: .channelsFirst, spec: spec, metadata: metadata,
            notes: notes, layerHints: chain.hints)
    }
}

extension CaffeReader {
    /// Decodes the whole caffemodel at `path` with swift-protobuf, every blob's values materialised as
    /// Swift arrays: what `read` avoids by scanning blobs on the memory map. Kept so `alexconv-bench
    /// caffe` can measure that cost; returns the number of layers and of values decoded.
    public static func decodeWithoutScanning(path: String) throws -> (layers: Int, values: Int) {
        let storage = try ByteStorage.map(path: path)
        let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: storage.bytes.baseAddress!), count: storage.bytes.count, deallocator: .none)
        let net = try withExtendedLifetime(storage) { try Caffe_NetParameter(serializedBytes: data) }
        let values =
            net.layer.reduce(0) { $0 + $1.blobs.reduce(0) { $0 + $1.data.count + $1.doubleData.count } }
            + net.layers.reduce(0) { $0 + $1.blobs.reduce(0) { $0 + $1.data.count + $1.doubleData.count } }
        return (net.layer.count + net.layers.count, values)
    }
}

extension ArchitectureSpec {
    /// True when `other` computes what this spec does from the same input size with the same tensors
    /// (names and shapes): equal layers once the ones that change nothing at inference are left out
    /// (dropout, flatten, which Caffe's InnerProduct does itself, and an adaptive pool to the size it
    /// already has, which the writer omits).
    func agreesWith(_ other: ArchitectureSpec) throws -> Bool {
        guard input.height == other.input.height, input.width == other.input.width, input.channels == other.input.channels,
            let mine = try? expectedTensors(), let mineLayers = try? computingLayers()
        else { return false }
        let theirs = try other.expectedTensors()
        let theirLayers = try other.computingLayers()
        return mine.map { "\($0.name)\($0.shape)" } == theirs.map { "\($0.name)\($0.shape)" } && mineLayers == theirLayers
    }

    private func computingLayers() throws -> [LayerSpec] {
        let shapes = try activationShapes()
        var previous = ActivationShape.map(channels: input.channels, height: input.height, width: input.width)
        var result: [LayerSpec] = []
        for (layer, shape) in zip(layers, shapes) {
            defer { previous = shape }
            switch layer {
            case .dropout, .flatten: continue
            case .adaptiveAvgPool where shape == previous: continue
            default: result.append(layer)
            }
        }
        return result
    }
}

// MARK: - Mean files

/// Caffe mean files (`imagenet_mean.binaryproto`): one `BlobProto` of (1, C, H, W) or (C, H, W)
/// values in BGR order, read with the same in-place blob scanner as caffemodels.
enum CaffeMean {
    /// Largest mean image accepted (values): 16 M, far above ImageNet's 3 x 256 x 256.
    static let maxValues = 1 << 24

    static func read(path: String) throws -> MeanImage {
        let storage = try ByteStorage.map(path: path)
        guard storage.bytes.count > 0 else { throw FormatError(.truncated, file: path, "empty file: not a BlobProto mean file") }
        return try withFileContext(path) {
            let scanner = WireScanner(ByteCursor(storage.bytes, file: path, label: "BlobProto"), what: "mean BlobProto")
            let blob = try CaffeNetFile.scanBlob(scanner, storage: storage)
            let tensor = try blob.tensor(what: "mean BlobProto")
            var dims = tensor.shape
            if dims.count == 4 && dims[0] == 1 { dims.removeFirst() }
            guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
                throw FormatError(.malformed, location: "mean BlobProto", "has shape \(tensor.shape); expected (1, channels, height, width) or (channels, height, width)")
            }
            guard tensor.count <= maxValues else {
                throw FormatError(.limit, location: "mean BlobProto", "holds \(tensor.count) values, more than the limit \(maxValues)")
            }
            return MeanImage(channels: dims[0], height: dims[1], width: dims[2], values: tensor.floats())
        }
    }
}

// MARK: - Input conventions

/// The `InputSpec` of a Caffe net: size from the net, preprocessing from the data layer's
/// `transform_param` (scale, mean_value) or a mean file, else Caffe's ImageNet conventions.
enum CaffeInputConventions {
    /// Start of the note that says the preprocessing was assumed.
    static let guessedNote = "preprocessing not recorded in the file"
    /// Start of the note that says the preprocessing came from a transform_param.
    static let transformNote = "preprocessing from the net's transform_param"
    /// Start of the note that names the mean file a data layer subtracts.
    static let meanFileNote = "the net's data layer subtracts the mean file"

    static func input(for chain: CaffeChain, notes: inout [String]) -> InputSpec {
        let (c, h, w) = chain.input
        let resize: Int? = h <= 256 && w <= 256 ? 256 : nil
        let scale = chain.transform.map { CaffeChainBuilder.decimal($0.scale) } ?? 1
        if let transform = chain.transform, !transform.meanValue.isEmpty, transform.meanValue.count == 1 || transform.meanValue.count == c {
            let values = transform.meanValue.count == 1 ? Array(repeating: transform.meanValue[0], count: c) : transform.meanValue
            notes.append("\(transformNote): scale \(scale), mean_value \(values.map { CaffeChainBuilder.decimal($0) }) (BGR, Caffe's channel order)")
            return InputSpec(
                height: h, width: w, channels: c, channelOrder: .bgr, scale: scale,
                mean: values.map { CaffeChainBuilder.decimal($0) * scale }, std: Array(repeating: 1, count: c), resize: resize,
                resizeMode: .warp)
        }
        if let file = chain.transform?.meanFile, !file.isEmpty {
            notes.append("\(meanFileNote) '\(oneLine(file))': give that file as the mean to record it")
        }
        if c == 3 {
            notes.append("\(guessedNote); assumed Caffe's ImageNet conventions (BGR, 0-255 minus mean 104, 117, 123)")
            var input = Presets.caffeInput(height: h, width: w)
            input.resize = resize
            return input
        }
        notes.append("\(guessedNote); assumed none (scale 1, mean 0, std 1)")
        return InputSpec(
            height: h, width: w, channels: c, channelOrder: .bgr, scale: 1,
            mean: Array(repeating: 0, count: c), std: Array(repeating: 1, count: c), resize: resize,
            resizeMode: .warp)
    }

    /// `input` with the mean file's image (or, `perChannel`, its channel averages) as the mean.
    static func applying(
        _ mean: MeanImage, to input: InputSpec, scale: Double, perChannel: Bool,
        file: String, notes: inout [String]
    ) throws -> InputSpec {
        guard mean.channels == input.channels else {
            throw FormatError(.malformed, file: file, "the mean image has \(mean.channels) channels; the net takes \(input.channels)")
        }
        guard mean.height >= input.height, mean.width >= input.width else {
            throw FormatError(.malformed, file: file, "the mean image is \(mean.height)x\(mean.width), smaller than the net's \(input.height)x\(input.width) input")
        }
        var scaled = mean
        if scale != 1 { scaled.values = mean.values.map { Float(Double($0) * scale) } }
        var result = input
        result.channelOrder = .bgr
        result.scale = scale
        result.std = Array(repeating: 1, count: input.channels)
        result.mean = scaled.channelAverages
        result.resize = min(mean.height, mean.width)
        notes.removeAll { $0.hasPrefix(guessedNote) || $0.hasPrefix(meanFileNote) }
        let averages = result.mean.map { String(format: "%.3f", $0) }.joined(separator: ", ")
        if perChannel {
            result.meanImage = nil
            notes.append("mean from \(file): its per-channel averages (\(averages), BGR), as asked")
        } else {
            result.meanImage = scaled
            notes.append(
                "mean from \(file): the \(mean.channels)x\(mean.height)x\(mean.width) mean image, subtracted pixel by pixel from its centre \(input.height)x\(input.width) crop (per-channel averages \(averages), BGR)"
            )
        }
        return result
    }

    /// The preset whose layers the spec has exactly, with a note saying so (or what is missing).
    static func presetName(for spec: ArchitectureSpec, notes: inout [String]) -> String? {
        let convs = spec.convs
        let denses = spec.denses
        guard convs.count == 5, denses.count == 3 else { return nil }
        for preset in Presets.all {
            let candidate = preset.spec(
                convWidths: convs.map(\.outChannels), fcWidths: [denses[0].outFeatures, denses[1].outFeatures],
                classes: denses[2].outFeatures)
            guard candidate.input.height == spec.input.height, candidate.input.width == spec.input.width else { continue }
            if candidate.layers == spec.layers {
                notes.append("the net's layers are exactly preset '\(preset.name)''s: \(preset.summary)")
                return preset.name
            }
            if candidate.endsInSoftmax && !spec.endsInSoftmax && Array(candidate.layers.dropLast()) == spec.layers {
                notes.append("the net's layers are preset '\(preset.name)''s without its final softmax (a net saved from training, whose loss layer was skipped: it outputs logits)")
            }
        }
        return nil
    }
}
