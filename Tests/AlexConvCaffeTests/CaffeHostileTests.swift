import AlexConv
import Foundation
import TestSupport
import Testing

@testable import AlexConvCaffe

/// Bad Caffe input: one-line errors naming the file and the place, with the right kind; never a crash,
/// a hang or an allocation a file merely claims.
@Suite("Caffe hostile input")
struct CaffeHostileTests {
    static func read(_ path: String, _ options: ReaderOptions = ReaderOptions()) throws {
        _ = try Recognizer.recognize(try CaffeReader.read(path: path, options: options))
    }

    /// A minimal valid net: net-level input 1x3x8x8 and one 1x1 convolution of 2 filters (no bias).
    static func tinyNet() -> Caffe_NetParameter {
        var net = Caffe_NetParameter()
        net.input = ["data"]
        var shape = Caffe_BlobShape()
        shape.dim = [1, 3, 8, 8]
        net.inputShape = [shape]
        var conv = Caffe_LayerParameter()
        conv.name = "conv1"
        conv.type = "Convolution"
        conv.bottom = ["data"]
        conv.top = ["conv1"]
        conv.convolutionParam.numOutput = 2
        conv.convolutionParam.kernelSize = [1]
        conv.convolutionParam.biasTerm = false
        var blob = Caffe_BlobProto()
        blob.shape.dim = [2, 3, 1, 1]
        blob.data = [1, 2, 3, 4, 5, 6]
        conv.blobs = [blob]
        net.layer = [conv]
        return net
    }

    static func file(_ bytes: [UInt8], _ name: String = "hostile.caffemodel") -> String { CaffeFixtures.write(bytes, named: name) }

    @Test("a truncated caffemodel: the field that runs past the end, at its byte")
    func truncated() throws {
        let bytes = HostileBytes.fixture("caffe/caffenet/caffenet.caffemodel")
        let path = Self.file(Array(bytes.prefix(bytes.count - 100)), "cut.caffemodel")
        let error = try #require(formatError { try Self.read(path) })
        #expect(error.kind == .truncated)
        #expect(error.description.contains("cut.caffemodel") && error.description.contains("claims"))
    }

    @Test("a 2 GB claimed length is refused before anything is allocated")
    func hugeLength() throws {
        // Field 100 (layer), wire type 2, length 2^31, then a few bytes.
        let bytes: [UInt8] = [0xA2, 0x06] + Varint.encoded(1 << 31) + [0x0A, 0x01, 0x78]
        let error = try #require(formatError { try Self.read(Self.file(bytes)) })
        #expect(error.kind == .truncated)
        #expect(error.detail.contains("claims 2147483648 bytes"))
    }

    @Test("wrong wire types: a layer that is a varint, a group, blob data as a varint")
    func wireTypes() throws {
        let varintLayer: [UInt8] = [0xA0, 0x06, 0x05]  // field 100, wire type 0
        var e = try #require(formatError { try Self.read(Self.file(varintLayer)) })
        #expect(e.kind == .malformed && e.detail.contains("layer (field 100) 0 has wire type 0"))
        let group: [UInt8] = [0x0B, 0x0C]  // field 1, wire type 3 (start group)
        e = try #require(formatError { try Self.read(Self.file(group)) })
        #expect(e.kind == .malformed && e.detail.contains("wire type 3"))
        // A blob whose data (field 5) is a varint.
        var blob: [UInt8] = [0x28, 0x07]
        var layer: [UInt8] = Array("\n\u{05}conv1".utf8)
        appendLengthDelimited(7, blob, to: &layer)
        var net: [UInt8] = []
        appendLengthDelimited(100, layer, to: &net)
        e = try #require(formatError { try Self.read(Self.file(net)) })
        #expect(e.kind == .malformed && e.detail.contains("data (field 5) has wire type 0"))
        #expect(e.description.contains("layer 0 ('conv1') blob 0"))
        // Packed floats whose length is not a multiple of 4.
        blob = [0x2A, 0x03, 1, 2, 3]
        layer = Array("\n\u{05}conv1".utf8)
        appendLengthDelimited(7, blob, to: &layer)
        net = []
        appendLengthDelimited(100, layer, to: &net)
        e = try #require(formatError { try Self.read(Self.file(net)) })
        #expect(e.kind == .malformed && e.detail.contains("not a multiple of 4"))
    }

    @Test("a blob whose values do not fill its shape")
    func countMismatch() throws {
        let error = try #require(formatError { try Self.read(CaffeFixtures.hostile("count_mismatch.caffemodel")) })
        #expect(error.kind == .corrupted)
        #expect(error.description.contains("count_mismatch.caffemodel"))
        #expect(error.description.contains("layer 'conv1' (Convolution) blob 0 (weights)"))
        #expect(error.detail.contains("shape [8, 3, 11, 11] needs 2904 values, the blob holds 100"))
    }

    @Test("a blob whose shape contradicts the layer's parameters")
    func shapeMismatch() throws {
        var net = Self.tinyNet()
        net.layer[0].convolutionParam.numOutput = 3
        let error = try #require(formatError { try Self.read(Self.file(try serialized(net))) })
        #expect(error.kind == .corrupted && error.detail.contains("has shape [2, 3, 1, 1]; the layer's parameters need [3, 3, 1, 1]"))
    }

    @Test("nets with both `layer` and `layers` are refused, as Caffe refuses them")
    func mixedGenerations() throws {
        let error = try #require(formatError { try Self.read(CaffeFixtures.hostile("mixed_layer_layers.caffemodel")) })
        #expect(error.kind == .malformed && error.detail.contains("both `layer`"))
    }

    @Test("a prototxt that does not parse: the line and column")
    func badSyntax() throws {
        let prototxt = CaffeFixtures.hostile("bad_syntax.prototxt")
        let text = try String(contentsOfFile: prototxt, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.contains("kernel_size: five") }) + 1
        let column = try #require(lines[line - 1].range(of: "five")).lowerBound.utf16Offset(in: lines[line - 1]) + 1
        let model = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let error = try #require(formatError { try Self.read(model, ReaderOptions(prototxt: prototxt)) })
        #expect(error.kind == .malformed)
        #expect(error.file == prototxt)
        #expect(error.location == "line \(line), column \(column)", "\(error)")
    }

    @Test("an unknown field name in a prototxt is located too")
    func unknownField() throws {
        let prototxt = CaffeFixtures.write("name: \"x\"\ninput: \"data\"\nlayer {\n  name: \"a\"\n  typo_field: 3\n}\n", named: "typo.prototxt")
        let model = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let error = try #require(formatError { try Self.read(model, ReaderOptions(prototxt: prototxt)) })
        #expect(error.location == "line 5, column 3" && error.detail.contains("field name caffe.proto does not define"), "\(error)")
    }

    @Test("a failing prototxt of one huge line is located without decoding once per token", .timeLimit(.minutes(1)))
    func hugeLine() throws {
        let text = "name: \"x\" " + String(repeating: "input: \"d\" ", count: 50_000) + "bad_field: 1\n"
        let prototxt = CaffeFixtures.write(text, named: "long.prototxt")
        let model = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let error = try #require(formatError { try Self.read(model, ReaderOptions(prototxt: prototxt)) })
        #expect(error.location == "line 1, column 1", "\(error)")
    }

    @Test("an unknown layer type is named, with its layer")
    func unknownType() throws {
        let model = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let error = try #require(formatError { try Self.read(model, ReaderOptions(prototxt: CaffeFixtures.hostile("unknown_type.prototxt"))) })
        #expect(error.kind == .unsupported)
        #expect(error.description.contains("unknown_type.prototxt"))
        #expect(error.location == "layer 'norm1' (Eltwise)" && error.detail.contains("type 'Eltwise'"), "\(error)")
    }

    @Test("a group that does not divide the channels")
    func badGroup() throws {
        let model = try CaffeFixtures.alone(CaffeFixtures.caffenet)
        let error = try #require(formatError { try Self.read(model, ReaderOptions(prototxt: CaffeFixtures.hostile("bad_group.prototxt"))) })
        #expect(error.kind == .malformed)
        #expect(error.location == "layer 'conv2' (Convolution)" && error.detail.contains("do not split into 3 groups"), "\(error)")
    }

    @Test("weights and prototxt layers that do not match by name: both sides listed")
    func nameMismatch() throws {
        let deploy = try String(contentsOfFile: CaffeFixtures.deploy(CaffeFixtures.caffenet), encoding: .utf8)
        let prototxt = CaffeFixtures.write(deploy.replacingOccurrences(of: "name: \"fc8\"", with: "name: \"fc8_new\""), named: "renamed.prototxt")
        do {
            try Self.read(try CaffeFixtures.alone(CaffeFixtures.caffenet), ReaderOptions(prototxt: prototxt))
            Issue.record("read without an error")
        } catch let error as ModelError {
            #expect(error.description.contains("'fc8_new' have no weights in the caffemodel"))
            #expect(error.description.contains("'fc8' hold weights but are not in the prototxt"))
        }
    }

    @Test("V0 layers, unknown V1 enum types and layers with include and exclude rules")
    func oldAndOddLayers() throws {
        // V1 layer holding a V0 `layer` (field 1).
        var v1: [UInt8] = []
        appendLengthDelimited(1, Array("\n\u{01}x".utf8), to: &v1)
        var net: [UInt8] = []
        appendLengthDelimited(2, v1, to: &net)
        var e = try #require(formatError { try Self.read(Self.file(net)) })
        #expect(e.kind == .unsupported && e.detail.contains("V0 layer"))
        // V1 type 99.
        v1 = Array("\"\u{02}qq".utf8) + [0x28, 99]
        net = []
        appendLengthDelimited(2, v1, to: &net)
        e = try #require(formatError { try Self.read(Self.file(net)) })
        #expect(e.kind == .unsupported && e.detail.contains("V1 layer type 99"), "\(e)")
        // include and exclude together.
        var withBoth = Self.tinyNet()
        var rule = Caffe_NetStateRule()
        rule.phase = .test
        withBoth.layer[0].include = [rule]
        withBoth.layer[0].exclude = [rule]
        e = try #require(formatError { try Self.read(Self.file(try serialized(withBoth))) })
        #expect(e.kind == .malformed && e.detail.contains("include and exclude"))
    }

    @Test("sizes out of range: a huge blob dimension, a huge input, a stride of 0")
    func sizes() throws {
        var net = Self.tinyNet()
        net.layer[0].blobs[0].shape.dim = [2, 3, 1, 1 << 40]
        var e = try #require(formatError { try Self.read(Self.file(try serialized(net))) })
        #expect(e.kind == .malformed && e.detail.contains("outside 0...2147483647"))
        net = Self.tinyNet()
        net.inputShape[0].dim = [1, 3, 1 << 30, 1 << 30]
        e = try #require(formatError { try Self.read(Self.file(try serialized(net))) })
        #expect(e.kind == .malformed && e.detail.contains("1...1048576"), "\(e)")
        net = Self.tinyNet()
        net.layer[0].convolutionParam.stride = [0]
        e = try #require(formatError { try Self.read(Self.file(try serialized(net))) })
        #expect(e.kind == .malformed && e.location == "layer 'conv1' (Convolution)", "\(e)")
    }

    @Test("mean files: empty, cut, wrong shape, too few channels")
    func badMeans() throws {
        let model = CaffeFixtures.model(CaffeFixtures.caffenet)
        let mean = HostileBytes.fixture("caffe/imagenet_mean_tiny.binaryproto")
        let cases: [(String, [UInt8], FormatError.Kind)] = [
            ("empty.binaryproto", [], .truncated),
            ("cut.binaryproto", Array(mean.prefix(mean.count / 2)), .truncated),
        ]
        for (name, bytes, kind) in cases {
            let path = CaffeFixtures.write(bytes, named: name)
            let e = try #require(formatError { try Self.read(model, ReaderOptions(mean: path)) })
            #expect(e.kind == kind && e.file == path, "\(name): \(e)")
        }
        var blob = Caffe_BlobProto()
        blob.shape.dim = [1, 1, 256, 256]
        blob.data = [Float](repeating: 1, count: 256 * 256)
        var path = CaffeFixtures.write(try serialized(blob), named: "gray.binaryproto")
        var e = try #require(formatError { try Self.read(model, ReaderOptions(mean: path)) })
        #expect(e.detail.contains("1 channels; the net takes 3") && e.file == path)
        blob.shape.dim = [3, 100, 100]
        blob.data = [Float](repeating: 1, count: 30_000)
        path = CaffeFixtures.write(try serialized(blob), named: "small.binaryproto")
        e = try #require(formatError { try Self.read(model, ReaderOptions(mean: path)) })
        #expect(e.detail.contains("smaller than the net's 227x227 input"))
    }

    @Test("empty and non-protobuf files")
    func notCaffe() throws {
        var e = try #require(formatError { try Self.read(Self.file([])) })
        #expect(e.kind == .truncated)
        e = try #require(formatError { try Self.read(Self.file(Array("hello, this is text\n".utf8))) })
        #expect([.malformed, .truncated].contains(e.kind))
        let prototxt = CaffeFixtures.write([0xFF, 0xFE, 0x00, 0x41], named: "binary.prototxt")
        e = try #require(formatError { try Self.read(CaffeFixtures.model(CaffeFixtures.caffenet), ReaderOptions(prototxt: prototxt)) })
        #expect(e.kind == .malformed && e.detail.contains("not UTF-8"))
    }
}

/// Fixture bytes for hostile variants.
enum HostileBytes {
    static func fixture(_ relative: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: FixturePaths.path(relative)) ?? Data())
    }
}
