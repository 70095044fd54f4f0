import AlexConv
import Foundation
import TestSupport
import Testing

@testable import AlexConvCaffe

/// alexconv's forward pass on each fixture against OpenCV dnn (the same prototxt + caffemodel) and
/// TensorFlow ops (the same weights), index by index.
@Suite("Caffe forward: alexconv equals OpenCV dnn and TensorFlow on the fixtures")
struct CaffeForwardTests {
    static let withOpenCV = [CaffeFixtures.zoo, CaffeFixtures.caffenet, CaffeFixtures.bn]

    /// 1e-4 of the largest golden value: float32 sums in another order differ by about 1e-6 here.
    static func tolerance(_ golden: Tensor) -> Float {
        1e-4 * max(1, golden.floats().map(abs).max() ?? 0)
    }

    @Test("probabilities equal OpenCV dnn's (deploy net), logits equal TensorFlow's", arguments: withOpenCV.map { "\($0.0)/\($0.1)" })
    func againstReferences(_ fixture: String) throws {
        let parts = fixture.split(separator: "/").map(String.init)
        let f = (parts[0], parts[1])
        // The bn fixture's deploy net is the caffemodel itself; the others have deploy.prototxt beside them.
        let model = try Recognizer.recognize(try CaffeReader.read(path: CaffeFixtures.model(f))).model
        #expect(model.spec.endsInSoftmax)
        let network = try Network(model: model)
        let x = try CaffeFixtures.input()
        let opencv = try CaffeFixtures.golden(f, "opencv")
        expectClose(try network.run(x), opencv, tolerance: Self.tolerance(opencv), "\(fixture) vs OpenCV")
        let tf = try CaffeFixtures.golden(f, "tf")
        expectClose(try network.run(x, logits: true), tf, tolerance: Self.tolerance(tf), "\(fixture) vs TensorFlow")
    }

    @Test("the train_val net alone (logits) equals TensorFlow's logits")
    func trainValAlone() throws {
        let model = try Recognizer.recognize(try CaffeReader.read(path: try CaffeFixtures.alone(CaffeFixtures.caffenet))).model
        #expect(!model.spec.endsInSoftmax)
        let tf = try CaffeFixtures.golden(CaffeFixtures.caffenet, "tf")
        expectClose(try Network(model: model).run(try CaffeFixtures.input()), tf, tolerance: Self.tolerance(tf), "caffenet train_val vs TensorFlow")
    }

    @Test("double_data weights (float64) run as float32 and equal TensorFlow's logits")
    func doubleData() throws {
        let model = try Recognizer.recognize(try CaffeReader.read(path: CaffeFixtures.model(CaffeFixtures.double))).model
        let tf = try CaffeFixtures.golden(CaffeFixtures.double, "tf")
        expectClose(try Network(model: model).run(try CaffeFixtures.input(), logits: true), tf, tolerance: Self.tolerance(tf), "double vs TensorFlow")
    }

    @Test("reading CaffeNet as AlexNet would change the outputs (the order matters)")
    func orderMatters() throws {
        let model = try Recognizer.recognize(try CaffeReader.read(path: CaffeFixtures.model(CaffeFixtures.caffenet))).model
        var swapped = model
        swapped.spec.layers = Presets.caffeAlexNet.spec(convWidths: TinyModels.convWidths, fcWidths: TinyModels.fcWidths, classes: 10).layers
        let x = try CaffeFixtures.input()
        let a = try Network(model: model).run(x, logits: true)
        let b = try Network(model: swapped).run(x, logits: true)
        #expect(maxAbsDiff(a.floats(), b.floats()) > 1e-2)
    }
}
