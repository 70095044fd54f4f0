import Foundation
import Testing

@testable import AlexConvCore

@Suite struct SpecTests {
    func parameters(_ spec: ArchitectureSpec) throws -> Int {
        try spec.expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    @Test func publishedParameterCounts() throws {
        #expect(try parameters(Presets.torchvision.spec()) == 61_100_840)  // torchvision docs
        #expect(try parameters(Presets.kerasBN.spec()) == 62_383_848)  // seed 000's model.summary()
        #expect(try parameters(Presets.caffeAlexNet.spec()) == 60_965_224)  // bvlc_alexnet
    }

    @Test func everyPresetValidatesAndEndsIn6x6() throws {
        for preset in Presets.all {
            let spec = preset.spec()
            try spec.validate()
            let map = try #require(try spec.flattenedMap())
            #expect(map.height == 6 && map.width == 6, "\(preset.name)")
        }
    }

    @Test func jsonRoundTrip() throws {
        for preset in Presets.all {
            let spec = preset.spec(convWidths: [8, 16, 24, 24, 16], fcWidths: [32, 32], classes: 10)
            let parsed = try ArchitectureSpec.parse(json: spec.json(pretty: true))
            #expect(parsed == spec)
        }
    }

    @Test func badSpecsAreClearErrors() {
        #expect(throws: FormatError.self) { try ArchitectureSpec.parse(json: "{\"name\": 1}") }
        #expect(throws: FormatError.self) {
            try ArchitectureSpec.parse(json: #"{"name":"x","input":{"height":8,"width":8,"channels":3,"channelOrder":"rgb","scale":1,"mean":[0,0,0],"std":[1,1,1]},"layers":[{"type":"warp"}]}"#)
        }
        var spec = Presets.torchvision.spec()
        spec.input.height = 20
        #expect(throws: ModelError.self) { try spec.validate() }
    }

    /// Malformed sizes (FuzzSafetensors found a stride of 0 in an embedded spec: a division by zero)
    /// are ModelErrors from validate and from activationShapes alone, never a trap.
    @Test func malformedSizesAreErrorsNotTraps() throws {
        let base = Presets.torchvision.spec()
        let conv = try #require(base.layers.firstIndex { if case .conv = $0 { true } else { false } })
        let pool = try #require(base.layers.firstIndex { if case .maxPool = $0 { true } else { false } })
        let dense = try #require(base.layers.firstIndex { if case .dense = $0 { true } else { false } })
        let adaptive = try #require(base.layers.firstIndex { if case .adaptiveAvgPool = $0 { true } else { false } })
        var variants: [(String, ArchitectureSpec)] = []
        func variant(_ what: String, _ change: (inout ArchitectureSpec) -> Void) {
            var spec = base
            change(&spec)
            variants.append((what, spec))
        }
        func editConv(_ edit: @escaping (inout ConvSpec) -> Void) -> (inout ArchitectureSpec) -> Void {
            { spec in
                if case .conv(var c) = spec.layers[conv] {
                    edit(&c)
                    spec.layers[conv] = .conv(c)
                }
            }
        }
        func editPool(_ edit: @escaping (inout PoolSpec) -> Void) -> (inout ArchitectureSpec) -> Void {
            { spec in
                if case .maxPool(var p) = spec.layers[pool] {
                    edit(&p)
                    spec.layers[pool] = .maxPool(p)
                }
            }
        }
        variant("conv stride 0", editConv { $0.stride = [0, 1] })
        variant("conv kernel of one value", editConv { $0.kernel = [3] })
        variant("conv padding Int.max", editConv { $0.padding = [Int.max, 0, Int.max, 0] })
        variant("conv 0 output channels", editConv { $0.outChannels = 0 })
        variant("conv groups 0", editConv { $0.groups = 0 })
        variant("pool stride 0", editPool { $0.stride = [2, 0] })
        variant("pool without padding", editPool { $0.padding = [] })
        variant("adaptive pool size []", { $0.layers[adaptive] = .adaptiveAvgPool([]) })
        variant(
            "dense -1 outputs",
            { spec in
                if case .dense(var d) = spec.layers[dense] {
                    d.outFeatures = -1
                    spec.layers[dense] = .dense(d)
                }
            })
        variant("input width 0", { $0.input.width = 0 })
        variant("input height Int.max", { $0.input.height = Int.max })
        for (what, spec) in variants {
            #expect(throws: ModelError.self, "\(what)") { try spec.activationShapes() }
            #expect(throws: ModelError.self, "\(what)") { try spec.validate() }
        }
    }

    @Test func ceilModePoolMatchesPyTorchRule() {
        // PyTorch: 6 with k3 s2 ceil -> 3 (floor 2); 5 with k2 s2 pad 1 ceil: last window would start in padding -> 3.
        #expect(windowOutputLength(size: 6, padBegin: 0, padEnd: 0, kernel: 3, stride: 2, ceil: true) == 3)
        #expect(windowOutputLength(size: 6, padBegin: 0, padEnd: 0, kernel: 3, stride: 2, ceil: false) == 2)
        #expect(windowOutputLength(size: 5, padBegin: 1, padEnd: 1, kernel: 2, stride: 2, ceil: true) == 3)
    }

    @Test func tensorflowLRNSpelling() {
        let lrn = LRNSpec(tensorflowDepthRadius: 2, bias: 1, alpha: 2e-5, beta: 0.75)
        #expect(lrn.size == 5)
        #expect(abs(lrn.alpha - 1e-4) < 1e-12)
        #expect(lrn.tensorflowSpelling.depthRadius == 2)
    }
}
