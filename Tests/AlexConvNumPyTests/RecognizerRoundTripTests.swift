import AlexConvCore
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

/// The lead's Recognizer turns each NumPy bundle into the same canonical model the manual inverse
/// layout rules give; exporting that model and recognising the result again is bit-exact.
@Suite("NumPy bundles through the Recognizer")
struct RecognizerRoundTripTests {
    static let files = [
        "bvlc_np2.npy", "bvlc_np1.npy", "bvlc_py2.npy", "caffe_tf.npy",
        "tf_keys_stored.npz", "slash_keys_deflated.npz", "torch_keys_stored.npz",
    ]

    @Test("every fixture recognises to the same canonical tensors", arguments: files)
    func recognise(file: String) throws {
        let path = numpyFixture(file)
        let bundle = file.hasSuffix(".npz") ? try NPZReader.read(path: path) : try NumPyReader.read(path: path)
        let recognition = try Recognizer.recognize(bundle)
        let expected = try canonicalModel(fromBvlc: try NumPyReader.read(path: numpyFixture("bvlc_np2.npy")))
        #expect(recognition.model.spec.name == "caffe-alexnet", "\(recognition.reasons)")
        #expect(recognition.layout == (file.hasPrefix("torch") ? .channelsFirst : .channelsLast))
        for named in expected.tensors {
            let tensor = try #require(recognition.model[named.name], "\(named.name)")
            #expect(tensor.shape == named.tensor.shape, "\(named.name)")
            #expect(tensor.contiguous(as: .float32).bitwiseEqual(named.tensor.contiguous()), "\(named.name)")
        }
    }

    @Test("export then recognise again is bit-exact", arguments: [("npy", nil), ("npz", "tf"), ("npz", "canonical")] as [(String, String?)])
    func exportAndBack(format: String, naming: String?) throws {
        let model = try Recognizer.recognize(try NumPyReader.read(path: numpyFixture("bvlc_py2.npy"))).model
        let path = FixturePaths.temporaryDirectory("numpy-recognize") + "/m." + format
        try NumPyExporter.export(model, format: format, to: path, options: ExportOptions(naming: naming))
        let bundle = format == "npz" ? try NPZReader.read(path: path) : try NumPyReader.read(path: path)
        let again = try Recognizer.recognize(bundle).model
        #expect(again.tensors.map(\.name) == model.tensors.map(\.name))
        for named in model.tensors {
            #expect(again[named.name]?.contiguous(as: .float32).bitwiseEqual(named.tensor.contiguous(as: .float32)) == true, "\(named.name)")
        }
    }
}
