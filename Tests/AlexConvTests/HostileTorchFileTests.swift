import AlexConv
import Foundation
import TestSupport
import Testing

// MARK: - torch files whose storage references lie

@Suite("Hostile files: torch archives with bad storage references")
struct HostileTorchFileTests {
    /// Written by make_hostile_fixtures.py with pickle's persistent_id, as torch's own pickler does.
    @Test(
        "refused with a clear error",
        arguments: [
            ("missing_record", "data/7"),
            ("numel_beyond_record", ""),
            ("view_past_storage", ""),
            ("negative_offset", ""),
            ("negative_stride", ""),
            ("overflowing_size", ""),
            ("short_record", ""),
            ("bad_persistent_id", ""),
            ("path_key", ""),
        ])
    func badStorage(name: String, expected: String) throws {
        let message = expectRefusal(FixturePaths.path("hostile/torch_\(name).pth"), containing: expected.isEmpty ? nil : expected)
        #expect(message != nil)
        HostileCaseCounter.shared.add("torch storages")
    }
}
