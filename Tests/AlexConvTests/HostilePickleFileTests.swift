import AlexConv
import Foundation
import TestSupport
import Testing

// MARK: - Pickles that would run code, inside every container that carries a pickle

/// Fixtures/hostile/make_hostile_fixtures.py writes each payload (os.system, eval, exec,
/// builtins.getattr, subprocess.Popen/check_output, a __reduce__ chain) with pickle protocols
/// 0, 2 and 4, each as an .npy object array, a torch zip archive and a legacy torch stream.
@Suite("Hostile files: pickles that would run code are refused")
struct HostilePickleFileTests {
    static let payloads: [(name: String, global: String)] = [
        ("os_system", "system"), ("builtins_eval", "eval"), ("builtins_exec", "exec"),
        ("builtins_getattr", "getattr"), ("subprocess_popen", "subprocess"),
        ("subprocess_check_output", "subprocess"), ("reduce_chain", "getattr"),
    ]
    static let containers = [".npy", ".pth", "_legacy.pth"]

    static var cases: [String] {
        payloads.flatMap { payload in
            [0, 2, 4].flatMap { protocolVersion in containers.map { "hostile/\(payload.name)_p\(protocolVersion)\($0)" } }
        } + [
            "hostile/state_dict_with_payload_p2.npy", "hostile/state_dict_with_payload_p2.pth",
            "hostile/state_dict_with_payload_p2_legacy.pth",
        ]
    }

    @Test("refused with the global named, nothing executed", arguments: cases)
    func refused(relative: String) throws {
        let marker = "/tmp/alexconv-pwned"
        let message = try #require(expectRefusal(FixturePaths.path(relative)))
        let payload = Self.payloads.first { relative.contains($0.name) }
        #expect(message.contains("refused pickle global") || message.contains("refused"), "\(message)")
        if let payload { #expect(message.contains(payload.global), "\(message)") }
        #expect(!FileManager.default.fileExists(atPath: marker), "a payload ran: \(marker) exists")
        HostileCaseCounter.shared.add("pickle payloads")
    }

    /// The hostile pickles the pickle engineer committed (Fixtures/numpy/hostile), wrapped as the
    /// object-array .npy np.save would write, read through the registry.
    @Test(
        "pickle-level hostile fixtures inside an .npy",
        arguments: [
            "builtins_eval", "builtins_getattr", "ext1", "huge_memo_index", "inst_popen", "lying_binbytes",
            "lying_binunicode8", "lying_frame", "negative_binstring", "no_stop", "os_system", "posix_system",
            "reduce_chain", "self_append", "subprocess_popen", "unknown_opcode",
        ])
    func pickleFixtureInNpy(name: String) throws {
        let pickle = HostileFiles.bytes("numpy/hostile/\(name).pkl")
        let header = Array("{'descr': '|O', 'fortran_order': False, 'shape': (), }".utf8)
        var preamble: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let padded = header + [UInt8](repeating: 0x20, count: (64 - (10 + header.count + 1) % 64) % 64) + [0x0A]
        preamble += [UInt8(padded.count & 0xFF), UInt8(padded.count >> 8)]
        let path = HostileFiles.write(preamble + padded + pickle, named: "\(name).npy")
        defer { HostileFiles.remove(path) }
        expectRefusal(path)
        HostileCaseCounter.shared.add("pickle fixtures in npy")
    }
}
