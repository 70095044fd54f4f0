import AlexConv
import AlexConvImages
import Foundation
import SwiftProtobuf
import TestSupport
import Testing

@testable import AlexConvCaffe

@Suite("Caffe reader: caffemodels written by Python protobuf from caffe.proto")
struct CaffeReaderTests {
    /// The canonical model `alexconv import` makes of the fixture (the recognizer on the bundle).
    static func model(_ path: String, options: ReaderOptions = ReaderOptions()) throws -> (TensorBundle, Model) {
        let bundle = try CaffeReader.read(path: path, options: options)
        return (bundle, try Recognizer.recognize(bundle).model)
    }

    @Test("V1 zoo file with deploy.prototxt beside it: caffe-alexnet, blobs bit-exact")
    func zooV1WithDeploy() throws {
        let (bundle, model) = try Self.model(CaffeFixtures.model(CaffeFixtures.zoo))
        #expect(bundle.format.contains("V1 `layers`"))
        #expect(bundle.format.contains("structure from deploy.prototxt"))
        #expect(bundle.notes.contains { $0.contains("deploy.prototxt (found beside the model)") })
        #expect(bundle.notes.contains { $0.contains("LRN before pooling") })
        #expect(model.spec.name == "caffe-alexnet")
        #expect(model.spec.endsInSoftmax)
        #expect(model.spec.convs.map(\.groups) == [1, 2, 1, 2, 2])
        #expect(model.spec.input.channelOrder == .bgr && model.spec.input.height == 227)
        // Legacy dims (1, 1, out, in) and (1, 1, 1, out) arrive as (out, in) and (out), values untouched.
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.zoo))
        // The blobs are views of the memory map, not copies.
        let storage = try #require(bundle.tensors.first?.tensor.storage)
        #expect(bundle.tensors.allSatisfy { $0.tensor.storage === storage })
    }

    @Test("V1 train_val net alone: data layers by phase, accuracy and loss skipped, input from crop_size")
    func zooV1Alone() throws {
        let path = try CaffeFixtures.alone(CaffeFixtures.zoo)
        let (bundle, model) = try Self.model(path)
        #expect(bundle.notes.contains { $0.contains("structure from the caffemodel's own layers") })
        #expect(bundle.notes.contains { $0.contains("layer 'data' (V1 DATA) skipped: included only in phase TRAIN") })
        #expect(bundle.notes.contains { $0.contains("layer 'accuracy' (V1 ACCURACY) skipped") })
        #expect(bundle.notes.contains { $0.contains("layer 'loss' (V1 SOFTMAX_LOSS) skipped") })
        #expect(bundle.notes.contains { $0.contains("input 3x227x227") })
        #expect(bundle.notes.contains { $0.contains("preset 'caffe-alexnet''s without its final softmax") })
        #expect(bundle.notes.contains { $0.contains("mean file 'data/ilsvrc12/imagenet_mean.binaryproto'") })
        #expect(model.spec.name == "custom" && !model.spec.endsInSoftmax)
        #expect(model.spec.input.height == 227 && model.spec.input.width == 227 && model.spec.input.channels == 3)
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.zoo))
    }

    @Test("pre-2014 data layers: crop_size and mean_file in data_param, moved over as Caffe's upgrade does")
    func legacyDataParameters() throws {
        var net = try Caffe_NetParameter(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: CaffeFixtures.model(CaffeFixtures.zoo))))
        for i in net.layers.indices where net.layers[i].type == .data {
            let transform = net.layers[i].transformParam
            net.layers[i].clearTransformParam()
            net.layers[i].dataParam.cropSize = transform.cropSize
            net.layers[i].dataParam.meanFile = transform.meanFile
        }
        #expect(net.layers.allSatisfy { !$0.hasTransformParam })
        let path = CaffeFixtures.write(try serialized(net), named: "old.caffemodel")
        let (bundle, model) = try Self.model(path)
        #expect(model.spec.input.height == 227 && model.spec.input.channels == 3)
        #expect(bundle.notes.contains { $0.contains("mean file 'data/ilsvrc12/imagenet_mean.binaryproto'") })
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.zoo))
    }

    @Test("current-format CaffeNet: pool before LRN, told apart from AlexNet by the file")
    func caffeNetOrder() throws {
        let (bundle, model) = try Self.model(CaffeFixtures.model(CaffeFixtures.caffenet))
        #expect(bundle.format.contains("`layer` (string layer types)"))
        #expect(model.spec.name == "caffenet")
        #expect(bundle.notes.contains { $0.contains("pooling before LRN (the order of BVLC CaffeNet") })
        #expect(model.spec.layers == Presets.caffeNet.spec(convWidths: TinyModels.convWidths, fcWidths: TinyModels.fcWidths, classes: 10).layers)
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.caffenet))
        // The same weights under the AlexNet order are another model: the order is data, from the file.
        #expect(model.spec.layers != Presets.caffeAlexNet.spec(convWidths: TinyModels.convWidths, fcWidths: TinyModels.fcWidths, classes: 10).layers)
    }

    @Test("a prototxt given explicitly is used and named")
    func explicitPrototxt() throws {
        let path = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let (bundle, model) = try Self.model(path, options: ReaderOptions(prototxt: CaffeFixtures.deploy(CaffeFixtures.caffenet)))
        #expect(bundle.notes.contains { $0.contains("deploy.prototxt (given)") })
        #expect(model.spec.name == "caffenet" && model.spec.endsInSoftmax)
        #expect(bundle.metadata["caffe.prototxt"] == CaffeFixtures.deploy(CaffeFixtures.caffenet))
    }

    @Test("BatchNorm + Scale: statistics divided by the moving-average factor as Caffe does, keras-bn layers")
    func batchNormScale() throws {
        let (bundle, model) = try Self.model(CaffeFixtures.model(CaffeFixtures.bn))
        #expect(model.spec.name == "keras-bn")
        #expect(model.spec.batchNorms.map(\.epsilon) == [0.001, 0.001, 0.001, 0.001, 0.001])
        #expect(bundle.notes.contains { $0.contains("moving-average factor 999.5") })
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.bn))
    }

    @Test("double_data blobs stay float64, exactly; net-level input + input_shape")
    func doubleData() throws {
        let (bundle, model) = try Self.model(CaffeFixtures.model(CaffeFixtures.double))
        #expect(bundle.tensors.allSatisfy { $0.tensor.dtype == .float64 })
        #expect(model.spec.input.height == 227)
        expectBitExact(model.tensors, try CaffeFixtures.expected(CaffeFixtures.double))
    }

    @Test("the mean file: a per-pixel mean in the spec, or its channel averages; both survive the canonical file")
    func meanFile() throws {
        let options = ReaderOptions(mean: CaffeFixtures.mean)
        let (bundle, model) = try Self.model(CaffeFixtures.model(CaffeFixtures.caffenet), options: options)
        let image = try #require(model.spec.input.meanImage)
        #expect(image.channels == 3 && image.height == 256 && image.width == 256)
        #expect(bundle.metadata["caffe.mean"] == CaffeFixtures.mean)
        // Values as the fixture script computed them (steps of 1/8 around 104, 117, 123): spot checks.
        #expect(image.values[0] == (104.0 * 8).rounded() / 8)
        #expect(abs(model.spec.input.mean[0] - image.channelAverages[0]) < 1e-12)
        #expect(model.spec.input.resize == 256)

        // The canonical file keeps the mean image bit for bit.
        let directory = FixturePaths.temporaryDirectory("caffe-mean")
        let path = directory + "/m.alexnet.safetensors"
        try CanonicalFile.write(model, to: path)
        let back = try CanonicalFile.read(path: path)
        #expect(back.spec.input.meanImage == image)
        #expect(back.spec == model.spec)

        // BGR <-> RGB reverses the mean image's planes with conv1's input channels.
        let rgb = try model.withChannelOrder(.rgb)
        let plane = 256 * 256
        #expect(Array(rgb.spec.input.meanImage!.values[0..<plane]) == Array(image.values[(2 * plane)..<(3 * plane)]))

        let perChannel = try Self.model(
            CaffeFixtures.model(CaffeFixtures.caffenet),
            options: ReaderOptions(mean: CaffeFixtures.mean, meanPerChannel: true)
        ).1
        #expect(perChannel.spec.input.meanImage == nil)
        #expect(perChannel.spec.input.mean == image.channelAverages)
    }

    @Test("preprocessing with a mean image subtracts its centre crop, pixel by pixel")
    func meanImagePreprocessing() throws {
        let model = try Self.model(CaffeFixtures.model(CaffeFixtures.caffenet), options: ReaderOptions(mean: CaffeFixtures.mean)).1
        let image = try ImageDecoder.decode(path: FixturePaths.path("images/coffee.png"))
        let withImage = try ImagePreprocessor.tensor(for: image, input: model.spec.input).floats()
        var plain = model.spec.input
        plain.meanImage = nil
        plain.mean = [0, 0, 0]
        let withoutMean = try ImagePreprocessor.tensor(for: image, input: plain).floats()
        let mean = try #require(model.spec.input.meanImage)
        let offset = (256 - 227) / 2  // 14, Caffe's test-phase crop of the 256x256 mean
        var worst: Float = 0
        for c in 0..<3 {
            for y in 0..<227 {
                for x in 0..<227 {
                    let i = (c * 227 + y) * 227 + x
                    let expected = withoutMean[i] - mean.values[(c * 256 + offset + y) * 256 + offset + x]
                    worst = max(worst, abs(withImage[i] - expected))
                }
            }
        }
        #expect(worst <= 1e-4)
    }

    @Test("unpacked float fields (legal protobuf) are gathered, not viewed")
    func unpackedFloats() throws {
        var net = Caffe_NetParameter()
        net.input = ["data"]
        var shape = Caffe_BlobShape()
        shape.dim = [1, 1, 4, 4]
        net.inputShape = [shape]
        var conv = Caffe_LayerParameter()
        conv.name = "c"
        conv.type = "Convolution"
        conv.bottom = ["data"]
        conv.top = ["c"]
        conv.convolutionParam.numOutput = 2
        conv.convolutionParam.kernelSize = [1]
        conv.convolutionParam.biasTerm = false
        var blob = Caffe_BlobProto()
        blob.shape.dim = [2, 1, 1, 1]
        conv.blobs = [blob]
        net.layer = [conv]
        var bytes = try serialized(net)
        // Append two fixed32 `data` elements to the blob: rebuild by hand (field 5, wire type 5).
        var blobBytes: [UInt8] = try serialized(blob)
        for value: Float in [1.5, -2.25] {
            blobBytes += [0x2D] + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        }
        conv.blobs = []
        var layerBytes: [UInt8] = try serialized(conv)
        appendLengthDelimited(7, blobBytes, to: &layerBytes)
        net.layer = []
        bytes = try serialized(net)
        appendLengthDelimited(100, layerBytes, to: &bytes)
        let path = CaffeFixtures.write(bytes, named: "unpacked.caffemodel")
        let storage = try ByteStorage.map(path: path)
        let file = try CaffeNetFile.read(storage, file: path)
        let values = file.layerBlobs[0][0].values
        #expect(values.floats() == [1.5, -2.25])
        #expect(values.storage !== storage)
    }
}
