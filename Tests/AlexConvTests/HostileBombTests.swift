import AlexConv
import AlexConvPickle
import Foundation
import TestSupport
import Testing

// MARK: - A minimal zip builder for forged archives

/// Writes zip archives whose directory says whatever a test wants (sizes, counts, methods).
struct ForgedZip {
    struct Member {
        var name: String
        var method: UInt16  // 0 stored, 8 deflated
        var data: [UInt8]  // bytes as stored in the archive
        var declaredSize: UInt32  // uncompressed size the headers claim
        var crc: UInt32 = 0
    }

    var members: [Member]
    /// Entry count the end record claims (nil: the real count).
    var claimedCount: UInt16?

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: UInt16, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        for member in members {
            let offset = UInt32(out.count)
            let name = Array(member.name.utf8)
            u32(0x0403_4B50, &out)
            u16(20, &out)
            u16(0, &out)
            u16(member.method, &out)
            u16(0, &out)
            u16(0x21, &out)
            u32(member.crc, &out)
            u32(UInt32(member.data.count), &out)
            u32(member.declaredSize, &out)
            u16(UInt16(name.count), &out)
            u16(0, &out)
            out += name
            out += member.data
            u32(0x0201_4B50, &central)
            u16(20, &central)
            u16(20, &central)
            u16(0, &central)
            u16(member.method, &central)
            u16(0, &central)
            u16(0x21, &central)
            u32(member.crc, &central)
            u32(UInt32(member.data.count), &central)
            u32(member.declaredSize, &central)
            u16(UInt16(name.count), &central)
            u16(0, &central)
            u16(0, &central)
            u16(0, &central)
            u16(0, &central)
            u32(0, &central)
            u32(offset, &central)
            central += name
        }
        let directoryOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out)
        u16(0, &out)
        u16(0, &out)
        u16(claimedCount ?? UInt16(members.count), &out)
        u16(claimedCount ?? UInt16(members.count), &out)
        u32(UInt32(central.count), &out)
        u32(directoryOffset, &out)
        u16(0, &out)
        return out
    }

    /// A raw deflate stream of stored blocks holding `data` (inflates to exactly `data`).
    static func storedDeflate(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let n = min(65_535, data.count - start)
            let final: UInt8 = start + n >= data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        return out
    }
}

/// An .npy v1.0 file with `header` (a Python dict literal) and `data`.
func npyFile(header: String, data: [UInt8] = []) -> [UInt8] {
    var dict = Array(header.utf8)
    dict += [UInt8](repeating: 0x20, count: (64 - (10 + dict.count + 1) % 64) % 64) + [0x0A]
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.count & 0xFF), UInt8(dict.count >> 8)] + dict + data
}

/// A safetensors file with header length field `length` (nil: the JSON's), `json` and `data`.
func safetensorsFile(json: String, length: UInt64? = nil, data: [UInt8] = []) -> [UInt8] {
    let header = Array(json.utf8)
    let n = length ?? UInt64(header.count)
    return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + header + data
}

// MARK: - Bombs and lying sizes

@Suite("Hostile files: bombs and lying sizes never allocate beyond the limits")
struct HostileBombTests {
    @Test(
        "npy headers with huge, negative or overflowing shapes",
        arguments: [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }",
            "{'descr': '<f4', 'fortran_order': True, 'shape': (65536, 65536, 65536), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (" + String(repeating: "2, ", count: 70) + "), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 500) + "1" + String(repeating: ",)", count: 500) + ", }",
            "{'descr': '<U1099511627776', 'fortran_order': False, 'shape': (4,), }",
            "{'descr': '|V9223372036854775807', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'descr': '<f8', }",
            // zero elements, but strides that overflow (issue 18: trapped in contiguousStrides)
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }",
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1099511627776, 1099511627776, 0), }",
        ])
    func npyHugeShapes(header: String) throws {
        let path = HostileFiles.write(npyFile(header: header, data: [UInt8](repeating: 0, count: 64)), named: "huge_shape.npy")
        defer { HostileFiles.remove(path) }
        expectRefusal(path)
        HostileCaseCounter.shared.add("npy headers")
    }

    @Test("npy header length beyond the file and beyond the limit")
    func npyHeaderLength() throws {
        // v2.0 header claiming 0xFFFFFFF0 bytes
        let v2: [UInt8] = [0x93] + Array("NUMPY".utf8) + [2, 0, 0xF0, 0xFF, 0xFF, 0xFF] + Array("{'descr'".utf8)
        for (name, bytes) in [("v2_huge_header.npy", v2), ("v1_short.npy", Array(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }").prefix(30)))] {
            let path = HostileFiles.write(bytes, named: name)
            defer { HostileFiles.remove(path) }
            expectRefusal(path)
            HostileCaseCounter.shared.add("npy headers")
        }
    }

    @Test(
        "safetensors headers with huge shapes, offsets and lengths",
        arguments: [
            (#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#, nil as UInt64?),
            (#"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,18446744073709551615]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[9223372036854775807,9223372036854775807]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, UInt64(1) << 63),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, UInt64(99_999_999)),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}"#, nil),
            (#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, nil),
            ("{\"w\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}", nil),
        ])
    func safetensorsHugeHeaders(json: String, length: UInt64?) throws {
        let path = HostileFiles.write(
            safetensorsFile(json: json, length: length, data: [UInt8](repeating: 0, count: 16)),
            named: "huge.safetensors")
        defer { HostileFiles.remove(path) }
        expectRefusal(path)
        HostileCaseCounter.shared.add("safetensors headers")
    }

    @Test("messages that name the real problem: a safetensors header over the limit, an image too wide to resize")
    func namedProblems() throws {
        let path = HostileFiles.write(safetensorsFile(json: #"{"a":1}"#, length: 200_000_000), named: "big_header.safetensors")
        defer { HostileFiles.remove(path) }
        expectRefusal(path, containing: "exceeds the limit")
        // A 5000x1 image: its resize would exceed the pixel limit; the error names the file.
        let png = FixturePaths.temporaryDirectory("wide") + "/wide.ppm"
        defer { try? FileManager.default.removeItem(atPath: (png as NSString).deletingLastPathComponent) }
        let ppm = Array("P6\n5000 1\n255\n".utf8) + [UInt8](repeating: 128, count: 5000 * 3)
        try Data(ppm).write(to: URL(fileURLWithPath: png))
        do {
            _ = try ForwardTasks.predict(model: FixturePaths.path("forward/torchvision.alexnet.safetensors"), images: [png])
            Issue.record("a 5000x1 image was resized")
        } catch let error as FormatError {
            #expect(error.description.hasPrefix(png), "\(error)")
        }
        HostileCaseCounter.shared.add("named problems", 2)
    }

    @Test("more tensors than one file may hold: refused before the header is parsed (safetensors) or the storages are built (torch pickles)")
    func tensorCountLimit() throws {
        // 70,000 empty tensors: a 4 MB header that JSON parsing would turn into ~300 MB of objects.
        let count = ImportLimits.maxTensors + 4464
        var json = "{"
        for i in 0..<count { json += (i > 0 ? "," : "") + "\"t\(i)\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}" }
        json += "}"
        let path = HostileFiles.write(safetensorsFile(json: json), named: "many.safetensors")
        defer { HostileFiles.remove(path) }
        expectRefusal(path, containing: "more than the \(ImportLimits.maxTensors)")
        // A pickle naming more storages than that (BININT1 0, BINPERSID, POP; repeated).
        var pickle: [UInt8] = [0x80, 0x02]
        for _ in 0..<count { pickle += [0x4B, 0x00, 0x51, 0x30] }
        pickle += [0x4E, 0x2E]  // NONE, STOP
        do {
            _ = try PickleReader.read(bytes: pickle, allowedGlobals: [])
            Issue.record("a pickle with \(count) persistent ids was read")
        } catch let error as FormatError {
            #expect(error.kind == .limit && error.description.contains("persistent ids"), "\(error)")
        }
        HostileCaseCounter.shared.add("tensor counts", 2)
    }

    @Test("npz members whose directory lies about sizes, ratios and counts")
    func forgedNpz() throws {
        let npy = npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: [UInt8](repeating: 0, count: 16))
        let cases: [(String, ForgedZip)] = [
            // 1 KB of deflate claiming 4 GiB: a ratio no deflate stream reaches
            (
                "ratio.npz",
                ForgedZip(members: [
                    .init(
                        name: "conv1_W.npy", method: 8, data: [UInt8](repeating: 0, count: 1024),
                        declaredSize: 0xFFFF_FFF0)
                ])
            ),
            // a deflate stream producing more than the declared size
            (
                "overrun.npz",
                ForgedZip(members: [
                    .init(
                        name: "conv1_W.npy", method: 8,
                        data: ForgedZip.storedDeflate(npy + [UInt8](repeating: 7, count: 4096)),
                        declaredSize: UInt32(npy.count))
                ])
            ),
            // a stored member shorter than the archive claims
            ("short.npz", ForgedZip(members: [.init(name: "conv1_W.npy", method: 0, data: Array(npy.prefix(40)), declaredSize: UInt32(npy.count))])),
            // an end record claiming 65535 entries over a directory of one
            (
                "count.npz",
                ForgedZip(
                    members: [.init(name: "conv1_W.npy", method: 0, data: npy, declaredSize: UInt32(npy.count))],
                    claimedCount: 0xFFFF)
            ),
            // an unknown compression method (bzip2)
            ("bzip2.npz", ForgedZip(members: [.init(name: "conv1_W.npy", method: 12, data: npy, declaredSize: UInt32(npy.count))])),
            // names that escape the archive
            ("traversal.npz", ForgedZip(members: [.init(name: "../../../tmp/x.npy", method: 0, data: npy, declaredSize: UInt32(npy.count))])),
        ]
        for (name, zip) in cases {
            let path = HostileFiles.write(zip.bytes(), named: name)
            defer { HostileFiles.remove(path) }
            expectRefusal(path)
            HostileCaseCounter.shared.add("zip directories")
        }
    }

    @Test("decoded data beyond the import budget is refused before it is allocated")
    func budgetRefusesLegalRatioBomb() throws {
        // 4 MiB of (garbage) deflate claiming 4 GiB + 1 MiB: a legal ratio (~1025:1), over the 4 GiB budget.
        let compressed = 4 << 20
        let claimed = UInt32(truncatingIfNeeded: (4 << 30) + (1 << 20))
        let zip = ForgedZip(members: [
            .init(
                name: "conv1_W.npy", method: 8, data: [UInt8](repeating: 0x03, count: compressed),
                declaredSize: claimed)
        ])
        let path = HostileFiles.write(zip.bytes(), named: "budget.npz")
        defer { HostileFiles.remove(path) }
        // The 32-bit size field cannot say more than 4 GiB - 1: the zip reader or the budget refuses.
        expectRefusal(path)
        #expect(throws: FormatError.self) {
            try AllocationBudget.withImportBudget(limit: 1 << 20) { try AllocationBudget.charge(2 << 20, what: "x") }
        }
        // The same budget through a real import: the 64 MiB deflated npz and the 64 MiB gzip HDF5
        // dataset are refused under a 16 MiB budget before anything is inflated.
        for relative in ["hostile/npz_deflate_64mib.npz", "hostile/h5_gzip_bomb.h5"] {
            AllocationBudget.withImportBudget(limit: 16 << 20) {
                expectRefusal(FixturePaths.path(relative), containing: "limit of 16777216 bytes")
            }
        }
        try AllocationBudget.withImportBudget(limit: 3 << 20) {
            try AllocationBudget.charge(2 << 20, what: "a")
            #expect(throws: FormatError.self) { try AllocationBudget.charge(2 << 20, what: "b") }
        }
        HostileCaseCounter.shared.add("budget")
    }

    /// Written by make_hostile_fixtures.py with zipfile/zlib and h5py: real compression bombs.
    @Test(
        "real bombs: deflated npz, many members, HDF5 fill-value and gzip datasets",
        arguments: [
            ("hostile/npz_deflate_64mib.npz", false),  // 64 MiB inflate within the limits: then no AlexNet
            ("hostile/npz_many_members.npz", false),  // 600 members: read, then no AlexNet
            ("hostile/h5_unwritten_huge_dataset.h5", true),  // 32 GiB of fill values in an 8 KB file: the budget refuses
            ("hostile/h5_gzip_bomb.h5", false),  // 64 MiB of gzip chunks: within the limits, then no AlexNet
        ])
    func realBombs(relative: String, mustNameLimit: Bool) throws {
        let message = expectRefusal(FixturePaths.path(relative))
        if mustNameLimit, let message { #expect(message.contains("limit"), "\(message)") }
        HostileCaseCounter.shared.add("real bombs")
    }
}
