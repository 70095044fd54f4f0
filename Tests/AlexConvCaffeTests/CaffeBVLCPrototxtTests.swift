import AlexConv
import Foundation
import TestSupport
import Testing

@testable import AlexConvCaffe

/// BVLC's real prototxts (Fixtures/caffe/bvlc, unchanged from BVLC/caffe) give the presets exactly.
@Suite("Caffe: BVLC's own deploy and train_val prototxts")
struct CaffeBVLCPrototxtTests {
    /// Full-size blobs of bvlc_alexnet's shapes, zero-filled lazily (no memory until touched).
    static func weights() -> [String: [CaffeBlob]] {
        let shapes: [(String, [Int])] = [
            ("conv1", [96, 3, 11, 11]), ("conv2", [256, 48, 5, 5]), ("conv3", [384, 256, 3, 3]),
            ("conv4", [384, 192, 3, 3]), ("conv5", [256, 192, 3, 3]),
            ("fc6", [4096, 9216]), ("fc7", [4096, 4096]), ("fc8", [1000, 4096]),
        ]
        func blob(_ shape: [Int]) -> CaffeBlob {
            var header = Caffe_BlobProto()
            header.shape.dim = shape.map(Int64.init)
            return CaffeBlob(header: header, values: Tensor.zeros([shape.reduce(1, *)]))
        }
        return Dictionary(uniqueKeysWithValues: shapes.map { ($0.0, [blob($0.1), blob([$0.1[0]])]) })
    }

    @Test(arguments: [("bvlc_alexnet", "caffe-alexnet"), ("bvlc_reference_caffenet", "caffenet")])
    func presetsFromBVLCFiles(_ model: String, _ preset: String) throws {
        let expected = try #require(Presets.named(preset)).spec()
        for (file, softmax) in [("deploy", true), ("train_val", false)] {
            let path = FixturePaths.path("caffe/bvlc/\(model)_\(file).prototxt")
            let net = try CaffeNet(try CaffePrototxt.decodeNet(try CaffePrototxt.readText(path: path), file: path))
            var builder = CaffeChainBuilder(net: net, weights: Self.weights(), weightsFile: "weights")
            let chain = try builder.run()
            #expect(chain.input == (3, 227, 227), "\(path)")
            #expect(chain.layers == (softmax ? expected.layers : Array(expected.layers.dropLast())), "\(path)")
            if !softmax {
                #expect(chain.notes.contains { $0.contains("included only in phase TRAIN") }, "\(path)")
                #expect(chain.notes.contains { $0.contains("'accuracy' (Accuracy) skipped") }, "\(path)")
                #expect(chain.transform?.meanFile == "data/ilsvrc12/imagenet_mean.binaryproto")
            }
        }
    }
}
