import AlexConv
import AlexConvNumPy
import Foundation
import TestSupport
import Testing

@Suite("verify: EXPECTED.json")
struct VerifyTests {
    func verifier() -> Verifier { Verifier { try CanonicalFile.read(path: $0) } }

    /// The shipped Fixtures/expected.json passes, as CI runs it with `alexconv verify`.
    @Test func shippedExpectationsPass() throws {
        let expected = try ExpectedFile.load(path: FixturePaths.path("expected.json"))
        var v = verifier()
        let report = try v.run(expected)
        #expect(report.passed, "\(report.text)")
        #expect(report.cases.contains { $0.kind == .image } && report.cases.contains { $0.kind == .tensor })
        #expect(report.text.hasSuffix("all \(report.cases.count) cases passed"))
        let junit = report.junit
        #expect(junit.contains("<testsuite name=\"alexconv verify\" tests=\"\(report.cases.count)\" failures=\"0\""))
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any]
        #expect(json?["passed"] as? Bool == true)
    }

    /// Writes an EXPECTED.json (and whatever files it needs) into a temporary folder.
    func write(_ json: String, files: [String: Tensor] = [:]) throws -> String {
        let dir = FixturePaths.temporaryDirectory("verify")
        for (name, tensor) in files { try NumPyExporter.writeArray(tensor, to: dir + "/" + name) }
        let path = dir + "/expected.json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var model: String { FixturePaths.path("forward/torchvision.alexnet.safetensors") }

    @Test func wrongGoldenFailsWithWhereAndHowMuch() throws {
        var golden = try NumPyReader.readArray(path: FixturePaths.path("forward/torchvision.x_u8.golden.npy")).floats()
        golden[7] += 0.5
        let path = try write(
            """
            {"model": "\(model)", "cases": [{"name": "shifted", "input": "\(FixturePaths.path("forward/x224_u8.npy"))", "output": "y.npy"}]}
            """, files: ["y.npy": Tensor(golden, shape: [1, 10])])
        var v = verifier()
        let report = try v.run(try ExpectedFile.load(path: path))
        #expect(!report.passed)
        let c = try #require(report.cases.first?.comparison)
        #expect(c.worstIndex == [0, 7] && c.failures == 1)
        #expect(report.text.contains("FAIL  shifted"))
        #expect(report.text.contains("at [0, 7]"))
        #expect(report.junit.contains("<failure message="))
    }

    @Test func wrongLabelsFailAndNameTheLabelsSeen() throws {
        let path = try write(
            """
            {"cases": [{"name": "cat", "model": "\(FixturePaths.path("forward/caffe-alexnet.alexnet.safetensors"))",
                        "image": "\(FixturePaths.path("images/chelsea.png"))", "top": [9, 8, 7], "topk": 2}]}
            """)
        var v = verifier()
        let report = try v.run(try ExpectedFile.load(path: path))
        #expect(!report.passed)
        #expect(report.cases[0].seenTop?.count == 5 && report.cases[0].seenLabels?.first?.hasPrefix("class ") == true)
        #expect(report.cases[0].detail.contains("top-2 expected [9, 8], seen"))
    }

    @Test func mismatchedEntriesAreInputErrors() throws {
        let x = FixturePaths.path("forward/x224_u8.npy")
        let bad: [(String, String, [String: Tensor])] = [
            ("no cases", #"{"cases": []}"#, [:]),
            ("not json", "{", [:]),
            ("neither image nor tensor", #"{"model": "\#(model)", "cases": [{"name": "a"}]}"#, [:]),
            ("image without top", #"{"model": "\#(model)", "cases": [{"name": "a", "image": "x.png"}]}"#, [:]),
            ("topk beyond top", #"{"model": "\#(model)", "cases": [{"name": "a", "image": "x.png", "top": [1], "topk": 3}]}"#, [:]),
            ("duplicate names", #"{"model": "\#(model)", "cases": [{"name": "a", "input": "\#(x)", "output": "y.npy"}, {"name": "a", "input": "\#(x)", "output": "y.npy"}]}"#, [:]),
            ("golden shape", #"{"model": "\#(model)", "cases": [{"name": "a", "input": "\#(x)", "output": "y.npy"}]}"#, ["y.npy": Tensor.zeros([2, 10])]),
            ("missing golden", #"{"model": "\#(model)", "cases": [{"name": "a", "input": "\#(x)", "output": "nope.npy"}]}"#, [:]),
            (
                "wrong input size", #"{"model": "\#(model)", "cases": [{"name": "a", "input": "x.npy", "output": "y.npy"}]}"#,
                ["x.npy": Tensor.zeros([1, 3, 227, 227]), "y.npy": Tensor.zeros([1, 10])]
            ),
            ("label out of range", #"{"model": "\#(model)", "cases": [{"name": "a", "image": "\#(FixturePaths.path("images/chelsea.png"))", "top": [12]}]}"#, [:]),
            ("missing image", #"{"model": "\#(model)", "cases": [{"name": "a", "image": "none.png", "top": [1]}]}"#, [:]),
        ]
        for (label, json, files) in bad {
            let path = try write(json, files: files)
            do {
                var v = verifier()
                _ = try v.run(try ExpectedFile.load(path: path))
                Issue.record("\(label): no error")
            } catch let error as UserFacingError {
                #expect(error.exitCode == 3, "\(label): exit \(error.exitCode): \(error)")
                #expect(error.description.contains("expected.json") || error.description.contains(".npy") || error.description.contains(".png"), "\(label): \(error)")
            }
        }
    }

    @Test func commandLineModelOverridesTheFile() throws {
        let path = try write(
            """
            {"model": "/nonexistent.safetensors", "cases": [{"name": "t", "input": "\(FixturePaths.path("forward/x224_u8.npy"))",
             "output": "\(FixturePaths.path("forward/torchvision.x_u8.golden.npy"))"}]}
            """)
        var v = verifier()
        #expect(try v.run(try ExpectedFile.load(path: path), model: model).passed)
    }
}

@Suite("diff: tensor by tensor and layer by layer")
struct DiffTests {
    @Test func identicalModelsAgree() throws {
        let a = try ForwardFixtures.model("caffe-alexnet")
        let x = ForwardFixtures.input(for: "caffe-alexnet", spec: a.spec).sliced(axis: 0, 0..<1)
        let diff = try ModelDiff.compare(a, a, input: x)
        #expect(diff.agree && diff.firstDivergentLayer == nil)
        #expect(diff.tensors.allSatisfy { $0.comparison?.maxAbsError == 0 })
        #expect(diff.layers.count == a.spec.layers.count)
    }

    @Test func pinpointsACorruptedLayer() throws {
        let a = try ForwardFixtures.model("torchvision")
        var b = a
        var w = try b.tensor("conv3.weight").floats()
        w[100] += 0.5
        b["conv3.weight"] = Tensor(w, shape: try b.tensor("conv3.weight").shape)
        let x = ForwardFixtures.input(for: "torchvision", spec: a.spec).sliced(axis: 0, 0..<2)
        let diff = try ModelDiff.compare(a, b, input: x)
        #expect(!diff.agree)
        #expect(diff.tensors.filter { !$0.withinTolerance }.map(\.name) == ["conv3.weight"])
        let first = try #require(diff.firstDivergentLayer)
        #expect(first.name == "conv3" && first.type == "conv")
        // Every layer before conv3 agrees exactly.
        #expect(diff.layers.prefix(first.index).allSatisfy { $0.comparison?.maxAbsError == 0 })
        #expect(diff.text.contains("first divergent layer: \(first.index + 1) conv3 (conv)"))
    }

    @Test func expandedTowersAgreeLayerByLayer() throws {
        // caffe-alexnet's two-tower conv2 expanded to one block-diagonal tower computes the same.
        let a = try ForwardFixtures.model("caffe-alexnet")
        var b = a
        b.spec.layers = b.spec.layers.map { layer in
            guard case .conv(var c) = layer, c.name == "conv2" else { return layer }
            c.groups = 1
            return .conv(c)
        }
        let w = try a.tensor("conv2.weight")  // (16, 4, 5, 5), two groups of 8 outputs
        let (o, i, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let src = w.floats()
        var dense = [Float](repeating: 0, count: o * i * 2 * kh * kw)
        for out in 0..<o {
            let group = out / (o / 2)
            for c in 0..<i {
                for k in 0..<(kh * kw) { dense[(out * 2 * i + group * i + c) * kh * kw + k] = src[(out * i + c) * kh * kw + k] }
            }
        }
        b["conv2.weight"] = Tensor(dense, shape: [o, 2 * i, kh, kw])
        let x = ForwardFixtures.input(for: "caffe-alexnet", spec: a.spec).sliced(axis: 0, 0..<1)
        let diff = try ModelDiff.compare(a, b, input: x)
        #expect(diff.tensors.first { $0.name == "conv2.weight" }?.comparison == nil)
        #expect(diff.agree, "\(diff.text)")
    }
}
