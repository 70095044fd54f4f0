import AlexConvCore
import Foundation
import TestSupport
import Testing

@testable import AlexConvHDF5

/// Fixtures/hdf5/expected.json: strings h5py read back (`read`), and attributes alexconv must refuse (`refuse`).
private struct LayoutExpectations: Decodable {
    let read: [String: [String: [String: [String]]]]
    let refuse: [String: [String: [String: String]]]
}

private let layouts: LayoutExpectations = {
    let data = FileManager.default.contents(atPath: FixturePaths.path("hdf5/expected.json"))!
    return try! JSONDecoder().decode(LayoutExpectations.self, from: data)
}()

private let layoutFiles = ["v1.h5", "latest.h5", "track_order.h5", "userblock.h5", "offsets4.h5"]

/// String attributes in every header layout h5py writes, read through the variable-length check.
@Suite("HDF5 string attributes")
struct HDF5StringAttributeTests {
    /// Every attribute reads back exactly what h5py read, in order.
    @Test(arguments: layoutFiles)
    func readsWhatH5pyWrote(_ name: String) throws {
        let file = try HDF5File.open(path: FixturePaths.path("hdf5/" + name))
        let groups = try #require(layouts.read[name])
        var checked = 0
        for (path, attributes) in groups {
            let location: HDF5Location = path == "/" ? file : try file.group(String(path.dropFirst()))
            for (attribute, values) in attributes {
                #expect(try location.stringsAttribute(attribute) == values, "\(name) \(path)@\(attribute)")
                checked += 1
            }
        }
        #expect(checked >= 5)
    }

    /// Attributes kept where alexconv cannot check them are refused with the reason, not read blindly.
    @Test func denseStorageIsRefusedWithItsReason() throws {
        for (name, groups) in layouts.refuse {
            let file = try HDF5File.open(path: FixturePaths.path("hdf5/" + name))
            for (path, attributes) in groups {
                for (attribute, reason) in attributes {
                    let error = #expect(throws: FormatError.self) { try file.group(String(path.dropFirst())).stringsAttribute(attribute) }
                    #expect(error?.description.contains(reason) == true, "\(error?.description ?? "")")
                    #expect(error?.description.contains(": \(path): ") == true, "\(error?.description ?? "")")
                }
            }
        }
    }

    /// Damage to a stored heap reference (index, length, address) is refused before libhdf5 follows it.
    /// Unchecked, libhdf5 1.10 crashes on each of these (index) or allocates what the length says.
    /// Version 2 headers carry a checksum, which is recomputed after the damage (as an attacker would).
    @Test(arguments: layoutFiles)
    func damagedReferencesAreRefused(_ name: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("hdf5/" + name))))
        let directory = FixturePaths.temporaryDirectory("hdf5-refs")
        let storage = ByteStorage(copying: original)
        let bytes = try HDF5Precheck(storage: storage, file: name)
        let probe = try HDF5File.open(path: FixturePaths.path("hdf5/" + name))
        let address = try probe.headerAddress()
        let message = try #require(
            try bytes.checkedAttributes(objectAddress: address, location: "/")
                .first { storage.bytes[$0.name].elementsEqual("names".utf8) })
        let offsetSize = bytes.offsetSize
        func little(_ value: UInt64, width: Int) -> [UInt8] { (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
        // Element 0 ("conv1"): (length, address, index) at message.data.
        let at = message.data.lowerBound
        let version2 = original[message.chunk.start] == 0x4F  // "OHDR" or "OCHK"
        if version2 {
            // The checksum of the chunk (Jenkins lookup3, as libhdf5 computes it) must match before any damage.
            let stored = (0..<4).reduce(UInt32(0)) { $0 | UInt32(original[message.chunk.messagesEnd + $1]) << (8 * UInt32($1)) }
            #expect(lookup3(original[message.chunk.start..<message.chunk.messagesEnd]) == stored, "\(name): checksum")
        }
        let damages: [(String, Int, [UInt8], String)] = [
            ("index beyond the collection", at + 4 + offsetSize, little(0x0100_0001, width: 4), "does not have"),
            ("index 0 (free space)", at + 4 + offsetSize, little(0, width: 4), "does not have"),
            ("length larger than the object", at, little(6, width: 4), "has length 6"),
            ("length of 4 GB", at, little(0xFFFF_FFFF, width: 4), "has length 4294967295"),
            ("address beyond the file", at + 4, little(UInt64(original.count) * 2, width: offsetSize), "beyond the end of the file"),
            ("address of the superblock", at + 4, little(0, width: offsetSize), "has length 5 but no heap object"),
            ("address of an object header", at + 4, little(address, width: offsetSize), "no GCOL signature"),
            // libhdf5 1.10 copies elements x size bytes from the message whatever its size (H5Aexists does).
            (
                "more elements than the message holds", message.dataspace.lowerBound + (original[message.dataspace.lowerBound] == 1 ? 8 : 4),
                little(1000, width: bytes.lengthSize), "1000 elements of \(4 + offsetSize + 4) bytes do not fit"
            ),
        ]
        for (what, offset, patch, expected) in damages {
            var damaged = original
            damaged.replaceSubrange(offset..<(offset + patch.count), with: patch)
            if version2 {
                let sum = lookup3(damaged[message.chunk.start..<message.chunk.messagesEnd])
                damaged.replaceSubrange(message.chunk.messagesEnd..<(message.chunk.messagesEnd + 4), with: little(UInt64(sum), width: 4))
            }
            let path = directory + "/" + what.replacingOccurrences(of: " ", with: "_") + ".h5"
            try Data(damaged).write(to: URL(fileURLWithPath: path))
            let file = try HDF5File.open(path: path)
            let error = #expect(throws: FormatError.self, "\(name): \(what)") { try file.stringsAttribute("names") }
            #expect(error?.description.contains(expected) == true, "\(name): \(what): \(error?.description ?? "")")
            #expect(error?.description.contains(": /") == true, "\(error?.description ?? "")")
        }
    }
}

/// A damaged object header is refused naming the HDF5 path and where the header starts.
@Test func damagedObjectHeaderIsLocated() throws {
    let name = "v1.h5"
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("hdf5/" + name))))
    let address = try HDF5File.open(path: FixturePaths.path("hdf5/" + name)).headerAddress()
    let start = try HDF5Precheck(storage: ByteStorage(copying: bytes), file: name).base + Int(address)
    #expect(bytes[start] == 1, "a version 1 object header")
    for i in 0..<4 { bytes[start + 8 + i] = 0xFF }  // its size: 4 GB
    let damaged = try HDF5Precheck(storage: ByteStorage(copying: bytes), file: name)
    let error = #expect(throws: FormatError.self) { try damaged.checkedAttributes(objectAddress: address, location: "/") }
    #expect(error?.kind == .corrupted)
    #expect(error?.location == "/: HDF5 object header at byte \(start)", "\(String(describing: error))")
    #expect(error?.detail.contains("runs past the end of the file") == true, "\(String(describing: error))")
}

/// A group's local heap whose data segment size runs past the file is refused before libhdf5
/// allocates that size (it would, for the first name looked up in the group).
@Test(arguments: layoutFiles.filter { $0 != "latest.h5" })
func damagedLocalHeapIsRefused(_ name: String) throws {
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("hdf5/" + name))))
    // The first local heap: "HEAP", version 0, 3 reserved, then the data segment size.
    let signature: [UInt8] = Array("HEAP".utf8) + [0]
    let found = (0..<(bytes.count - 8)).first { (i: Int) -> Bool in bytes[i..<(i + 5)].elementsEqual(signature) }
    let heap = try #require(found)
    for i in 0..<4 { bytes[heap + 8 + i] = 0xFF }
    let path = FixturePaths.temporaryDirectory("hdf5-heap") + "/" + name
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let error = #expect(throws: FormatError.self) {
        let file = try HDF5File.open(path: path)
        _ = try file.group("model_weights/conv1").childNames()
    }
    #expect(error?.description.contains("local heap at address") == true, "\(error?.description ?? "")")
    #expect(error?.description.contains("does not fit in the file") == true, "\(error?.description ?? "")")
}

/// Bob Jenkins' lookup3 `hashlittle` with initial value 0: libhdf5's metadata checksum.
func lookup3(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    func rot(_ x: UInt32, _ k: UInt32) -> UInt32 { (x << k) | (x >> (32 - k)) }
    let k = Array(bytes)
    var length = k.count
    var a = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: length)
    var b = a
    var c = a
    func word(_ at: Int, _ count: Int) -> UInt32 {
        (0..<count).reduce(UInt32(0)) { $0 | UInt32(k[at + $1]) << (8 * UInt32($1)) }
    }
    var at = 0
    while length > 12 {
        a &+= word(at, 4)
        b &+= word(at + 4, 4)
        c &+= word(at + 8, 4)
        a &-= c
        a ^= rot(c, 4)
        c &+= b
        b &-= a
        b ^= rot(a, 6)
        a &+= c
        c &-= b
        c ^= rot(b, 8)
        b &+= a
        a &-= c
        a ^= rot(c, 16)
        c &+= b
        b &-= a
        b ^= rot(a, 19)
        a &+= c
        c &-= b
        c ^= rot(b, 4)
        b &+= a
        length -= 12
        at += 12
    }
    if length == 0 { return c }
    a &+= word(at, min(length, 4))
    if length > 4 { b &+= word(at + 4, min(length - 4, 4)) }
    if length > 8 { c &+= word(at + 8, length - 8) }
    c ^= b
    c &-= rot(b, 14)
    a ^= c
    a &-= rot(c, 11)
    b ^= a
    b &-= rot(a, 25)
    c ^= b
    c &-= rot(b, 16)
    a ^= c
    a &-= rot(c, 4)
    b ^= a
    b &-= rot(a, 14)
    c ^= b
    c &-= rot(b, 24)
    return c
}
