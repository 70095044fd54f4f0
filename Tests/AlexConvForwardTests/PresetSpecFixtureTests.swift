import AlexConvCore
import Foundation
import TestSupport
import Testing

/// The tiny fixture models' specs: every preset at conv widths [8, 16, 24, 24, 16], fc [32, 32], 10 classes.
enum TinySpecs {
    static let convWidths = [8, 16, 24, 24, 16]
    static let fcWidths = [32, 32]
    static let classes = 10

    static func spec(_ preset: Preset) -> ArchitectureSpec {
        preset.spec(convWidths: convWidths, fcWidths: fcWidths, classes: classes)
    }

    /// JSON object {preset name: spec} as the fixture script reads it.
    static func json() -> String {
        let entries = Presets.all.map { "  \(jsonString($0.name)): \(spec($0).json())" }
        return "{\n" + entries.joined(separator: ",\n") + "\n}\n"
    }
}

@Suite("Fixture specs")
struct PresetSpecFixtureTests {
    /// Fixtures/forward/tiny_specs.json is what the Swift presets say (regenerate with
    /// ALEXCONV_WRITE_SPECS=1 swift test --filter PresetSpecFixtureTests, then rerun the fixture script).
    @Test func tinySpecsFileMatchesPresets() throws {
        let path = FixturePaths.path("forward/tiny_specs.json")
        let expected = TinySpecs.json()
        if ProcessInfo.processInfo.environment["ALEXCONV_WRITE_SPECS"] == "1" {
            try expected.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let found = try String(contentsOfFile: path, encoding: .utf8)
        #expect(found == expected, "Fixtures/forward/tiny_specs.json is stale: regenerate it and the fixtures")
    }
}
