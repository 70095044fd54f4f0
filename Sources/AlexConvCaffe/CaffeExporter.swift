import AlexConvCore
import Foundation
import SwiftProtobuf

/// Writes a canonical `Model` as Caffe files (`--format caffemodel`): `OUT.caffemodel`, a binary
/// `NetParameter` in the current `layer` format holding every layer with its blobs, and
/// `OUT.prototxt`, the same net without blobs as a deploy net (an `Input` layer of (1, C, H, W)) that
/// `cv2.dnn.readNetFromCaffe(OUT.prototxt, OUT.caffemodel)` and Caffe run. Blobs are Caffe's layout,
/// which is the canonical one: Convolution (out, in/groups, kh, kw) with towers as `group`,
/// InnerProduct (out, in) with fc6's input in (C, H, W) order, BatchNorm (mean, variance, factor 1)
/// followed by Scale (gamma, beta). Input channels are BGR unless `--channels` says otherwise.
public enum CaffeExporter: ModelExporter {
    public static let formats = ["caffemodel"]

    public static func fileExtension(for format: String) -> String { ".caffemodel" }

    /// `X.caffemodel` and `X.prototxt`.
    public static func outputFiles(for format: String, path: String) -> [String] {
        [path, prototxtPath(for: path)]
    }

    /// Caffe models take BGR input (OpenCV's `imread` order).
    public static func defaultChannelOrder(for format: String) -> ChannelOrder? { .bgr }

    /// The prototxt written beside `path`: its `.caffemodel` extension replaced (or `.prototxt` appended).
    public static func prototxtPath(for path: String) -> String {
        path.lowercased().hasSuffix(".caffemodel") ? String(path.dropLast(".caffemodel".count)) + ".prototxt" : path + ".prototxt"
    }

    public static func loadingNotes(for model: Model, format: String) -> [String] {
        let input = model.spec.input
        var notes = [
            "the .prototxt is the deploy net: cv2.dnn.readNetFromCaffe(prototxt, caffemodel) runs it on preprocessed (N, \(input.channels), \(input.height), \(input.width)) \(input.channelOrder.rawValue.uppercased()) blobs"
        ]
        if input.meanImage != nil {
            notes.append("the per-pixel mean image is not part of Caffe's net files: subtract it when preprocessing, and give the mean file again when reading the caffemodel back")
        } else if transformParameter(input) == nil {
            notes.append(
                "the input normalisation (per-channel std) has no place in a Caffe net; it is recorded in the prototxt's '\(CaffePrototxt.specComment.trimmingCharacters(in: .whitespaces))' comment")
        }
        return notes
    }

    /// Writes `model` to `path` and its prototxt beside it, atomically (both or neither).
    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        guard format == "caffemodel" else { throw UsageError("the Caffe exporter writes format 'caffemodel', not '\(format)'") }
        _ = try checkedNaming(options, format: format)
        let dtype = options.dtype ?? .float32
        guard dtype == .float32 || dtype == .float64 else {
            throw UsageError("Caffe blobs hold float32 (data) or float64 (double_data); dtype \(dtype.name) is not supported for caffemodel")
        }
        try model.validate()
        let plan = try CaffeNetPlan(model: model)
        let text = prototxt(plan, model: model)
        try writeAtomically(files: outputFiles(for: format, path: path), overwrite: options.overwrite) { writers in
            try writeCaffemodel(plan, dtype: dtype, to: writers[0])
            try writers[1].write(text)
        }
    }

    // MARK: - Files

    /// The deploy prototxt: the spec comment, then the net without blobs in protobuf text format.
    static func prototxt(_ plan: CaffeNetPlan, model: Model) -> String {
        var spec = model.spec
        spec.input.meanImage = nil  // a megabyte of base64 has no place in a deploy prototxt (see loadingNotes)
        let net = plan.net(withBlobs: false)
        return "# Written by alexconv from \(oneLine(model.source)).\n" + CaffePrototxt.specComment + spec.json() + "\n" + net.textFormatString()
    }

    /// Streams the binary NetParameter: each layer's parameters serialized by swift-protobuf, then its
    /// blobs (shape, then packed values straight from the tensors, chunk by chunk).
    static func writeCaffemodel(_ plan: CaffeNetPlan, dtype: DType, to writer: AtomicFileWriter) throws {
        var header = Caffe_NetParameter()
        header.name = plan.name
        try writer.write(try header.serializedBytes() as [UInt8])
        var total = 0
        for layer in plan.layers {
            let params: [UInt8] = try layer.parameter.serializedBytes()
            var blobHeaders: [[UInt8]] = []
            var layerLength = params.count
            for tensor in layer.blobs {
                var blob = Caffe_BlobProto()
                blob.shape.dim = tensor.shape.map(Int64.init)
                var bytes: [UInt8] = try blob.serializedBytes()
                let valueBytes = try checkedMultiply(tensor.count, dtype.size, what: "blob of \(layer.parameter.name)")
                Varint.encode(UInt64((dtype == .float64 ? 8 : 5) << 3 | 2), into: &bytes)
                Varint.encode(UInt64(valueBytes), into: &bytes)
                let blobLength = bytes.count + valueBytes
                blobHeaders.append(bytes)
                layerLength += 1 + Varint.encoded(UInt64(blobLength)).count + blobLength
            }
            var prefix: [UInt8] = []
            Varint.encode(UInt64(100 << 3 | 2), into: &prefix)
            Varint.encode(UInt64(layerLength), into: &prefix)
            total += prefix.count + layerLength
            guard total <= Int(Int32.max) else {
                throw ModelError("the caffemodel would exceed protobuf's 2 GiB message limit, which Caffe and OpenCV enforce")
            }
            try writer.write(prefix + params)
            for (tensor, blobHeader) in zip(layer.blobs, blobHeaders) {
                let blobLength = blobHeader.count + tensor.count * dtype.size
                try writer.write([0x3A] + Varint.encoded(UInt64(blobLength)) + blobHeader)  // field 7 (blobs), wire type 2
                try tensor.forEachChunk(as: dtype) { try writer.write($0) }
            }
        }
    }

    /// Caffe's `transform_param` for `input` when it can state it: `(pixel - mean_value) * scale`
    /// needs one std for every channel and no mean image.
    static func transformParameter(_ input: InputSpec) -> Caffe_TransformationParameter? {
        guard input.meanImage == nil, let std = input.std.first, std > 0, input.std.allSatisfy({ $0 == std }), input.scale > 0 else { return nil }
        var transform = Caffe_TransformationParameter()
        transform.scale = Float(input.scale / std)
        transform.meanValue = input.mean.map { Float($0 / input.scale) }
        return transform
    }
}

// MARK: - The net

/// The Caffe layers of a model's spec, with the tensors each one's blobs hold.
struct CaffeNetPlan {
    struct Layer {
        var parameter: Caffe_LayerParameter
        var blobs: [Tensor]
    }
    var name: String
    var layers: [Layer] = []

    /// The net as a message; `withBlobs` false for the prototxt (blobs are streamed into the caffemodel).
    func net(withBlobs: Bool) -> Caffe_NetParameter {
        var net = Caffe_NetParameter()
        net.name = name
        net.layer = layers.map(\.parameter)
        return net
    }

    init(model: Model) throws {
        let spec = model.spec
        name = spec.name
        var used: Set<String> = []
        var block = 0
        func unique(_ base: String) -> String {
            var name = base
            var n = 2
            while used.contains(name) {
                name = "\(base)_\(n)"
                n += 1
            }
            used.insert(name)
            return name
        }
        func fail(_ index: Int, _ layer: LayerSpec, _ detail: String) -> ModelError {
            ModelError("architecture \(spec.name): layer \(index + 1) (\(layer.typeName)) cannot be written to Caffe: \(detail)")
        }
        /// (h, w) from a [top, left, bottom, right] padding Caffe can state (both sides alike).
        func symmetric(_ padding: [Int], _ index: Int, _ layer: LayerSpec) throws -> [Int] {
            guard padding[0] == padding[2], padding[1] == padding[3] else {
                throw fail(index, layer, "padding \(padding) is not the same on both sides, and Caffe pads both sides alike")
            }
            return [padding[0], padding[1]]
        }

        var input = Caffe_LayerParameter()
        input.name = unique("data")
        input.type = "Input"
        input.top = ["data"]
        var shape = Caffe_BlobShape()
        shape.dim = [1, spec.input.channels, spec.input.height, spec.input.width].map(Int64.init)
        input.inputParam.shape = [shape]
        if let transform = CaffeExporter.transformParameter(spec.input) { input.transformParam = transform }
        layers.append(Layer(parameter: input, blobs: []))
        var current = "data"

        func add(_ type: String, _ name: String, inPlace: Bool = false, blobs: [Tensor] = [], _ configure: (inout Caffe_LayerParameter) -> Void = { _ in }) {
            var layer = Caffe_LayerParameter()
            layer.name = name
            layer.type = type
            layer.bottom = [current]
            layer.top = [inPlace ? current : name]
            configure(&layer)
            layers.append(Layer(parameter: layer, blobs: blobs))
            current = layer.top[0]
        }

        let shapes = try spec.activationShapes()
        var previous = ActivationShape.map(channels: spec.input.channels, height: spec.input.height, width: spec.input.width)
        for (index, layer) in spec.layers.enumerated() {
            let after = shapes[index]
            defer { previous = after }
            switch layer {
            case .conv(let c):
                block += 1
                let pad = try symmetric(c.padding, index, layer)
                var blobs = [try model.tensor("\(c.name).weight")]
                if c.bias { blobs.append(try model.tensor("\(c.name).bias")) }
                add("Convolution", unique(c.name), blobs: blobs) { l in
                    var p = Caffe_ConvolutionParameter()
                    p.numOutput = UInt32(c.outChannels)
                    if c.kernel[0] == c.kernel[1] {
                        p.kernelSize = [UInt32(c.kernel[0])]
                    } else {
                        p.kernelH = UInt32(c.kernel[0])
                        p.kernelW = UInt32(c.kernel[1])
                    }
                    if c.stride[0] == c.stride[1] {
                        if c.stride[0] != 1 { p.stride = [UInt32(c.stride[0])] }
                    } else {
                        p.strideH = UInt32(c.stride[0])
                        p.strideW = UInt32(c.stride[1])
                    }
                    if pad[0] == pad[1] {
                        if pad[0] != 0 { p.pad = [UInt32(pad[0])] }
                    } else {
                        p.padH = UInt32(pad[0])
                        p.padW = UInt32(pad[1])
                    }
                    if c.groups != 1 { p.group = UInt32(c.groups) }
                    if !c.bias { p.biasTerm = false }
                    l.convolutionParam = p
                }
            case .relu:
                add("ReLU", unique("relu\(block)"), inPlace: true)
            case .lrn(let n):
                guard n.size % 2 == 1 else { throw fail(index, layer, "size \(n.size) is even, and Caffe's LRN takes odd sizes only") }
                add("LRN", unique("norm\(block)")) { l in
                    l.lrnParam.localSize = UInt32(n.size)
                    l.lrnParam.alpha = Float(n.alpha)
                    l.lrnParam.beta = Float(n.beta)
                    l.lrnParam.k = Float(n.k)
                }
            case .maxPool(let p), .avgPool(let p):
                let average: Bool
                if case .avgPool = layer { average = true } else { average = false }
                let pad = try symmetric(p.padding, index, layer)
                guard case .map(_, let h, let w) = previous, case .map(_, let oh, let ow) = after else { break }
                let caffe = (
                    CaffeChainBuilder.caffePooledSize(h, pad: pad[0], kernel: p.kernel[0], stride: p.stride[0], ceil: true),
                    CaffeChainBuilder.caffePooledSize(w, pad: pad[1], kernel: p.kernel[1], stride: p.stride[1], ceil: true)
                )
                guard caffe == (oh, ow) else {
                    throw fail(index, layer, "Caffe rounds pooled sizes up: it pools the \(h)x\(w) map to \(caffe.0)x\(caffe.1), the model to \(oh)x\(ow)")
                }
                if average && !p.countIncludePad && (pad[0] > 0 || pad[1] > 0) {
                    throw fail(index, layer, "average pooling that leaves padding out of the divisor; Caffe counts it")
                }
                add("Pooling", unique("pool\(block)")) { l in
                    var q = Caffe_PoolingParameter()
                    q.pool = average ? .ave : .max
                    if p.kernel[0] == p.kernel[1] {
                        q.kernelSize = UInt32(p.kernel[0])
                    } else {
                        q.kernelH = UInt32(p.kernel[0])
                        q.kernelW = UInt32(p.kernel[1])
                    }
                    if p.stride[0] == p.stride[1] {
                        q.stride = UInt32(p.stride[0])
                    } else {
                        q.strideH = UInt32(p.stride[0])
                        q.strideW = UInt32(p.stride[1])
                    }
                    if pad[0] == pad[1] {
                        if pad[0] != 0 { q.pad = UInt32(pad[0]) }
                    } else {
                        q.padH = UInt32(pad[0])
                        q.padW = UInt32(pad[1])
                    }
                    l.poolingParam = q
                }
            case .adaptiveAvgPool(let size):
                guard case .map(_, let h, let w) = previous else { break }
                if h == size[0] && w == size[1] { break }  // the identity (torchvision at 224): nothing to write
                guard h % size[0] == 0, w % size[1] == 0 else {
                    throw fail(index, layer, "adaptive average pooling from \(h)x\(w) to \(size[0])x\(size[1]) has uneven windows, which Caffe's pooling cannot express")
                }
                add("Pooling", unique("pool\(block)")) { l in
                    l.poolingParam.pool = .ave
                    l.poolingParam.kernelH = UInt32(h / size[0])
                    l.poolingParam.kernelW = UInt32(w / size[1])
                    l.poolingParam.strideH = UInt32(h / size[0])
                    l.poolingParam.strideW = UInt32(w / size[1])
                }
            case .flatten:
                // InnerProduct flattens (C, H, W) itself; an explicit Flatten only where no dense layer follows.
                let next = spec.layers[(index + 1)...].first { if case .dropout = $0 { return false } else { return true } }
                if case .dense? = next { break }
                if case .map = previous { add("Flatten", unique("flatten\(block)")) }
            case .dense(let d):
                block += 1
                var blobs = [try model.tensor("\(d.name).weight")]
                if d.bias { blobs.append(try model.tensor("\(d.name).bias")) }
                add("InnerProduct", unique(d.name), blobs: blobs) { l in
                    l.innerProductParam.numOutput = UInt32(d.outFeatures)
                    if !d.bias { l.innerProductParam.biasTerm = false }
                }
            case .dropout(let rate):
                add("Dropout", unique("drop\(block)"), inPlace: true) { $0.dropoutParam.dropoutRatio = Float(rate) }
            case .softmax:
                add("Softmax", unique("prob"))
            case .batchNorm(let b):
                let stats = try [model.tensor("\(b.name).running_mean"), model.tensor("\(b.name).running_var"), Tensor([1], shape: [1])]
                add("BatchNorm", unique(b.name), inPlace: true, blobs: stats) { l in
                    l.batchNormParam.useGlobalStats = true
                    l.batchNormParam.eps = Float(b.epsilon)
                }
                let scaleName = b.name.hasPrefix("bn") ? "scale" + b.name.dropFirst(2) : "\(b.name)_scale"
                add(
                    "Scale", unique(scaleName), inPlace: true,
                    blobs: [try model.tensor("\(b.name).weight"), try model.tensor("\(b.name).bias")]
                ) { $0.scaleParam.biasTerm = true }
            }
        }
    }
}
