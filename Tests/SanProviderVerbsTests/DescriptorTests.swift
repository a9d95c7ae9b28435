import SanCore
@testable import SanProviderVerbs
import Testing

/// The RDMA descriptor: fixed size, versioned, validated on every use.
@Suite struct DescriptorTests {
    let sample = VerbsDescriptor(access: .write, rkey: 0x1122_3344, address: 0x7F00_1234_5000, length: 4096, region: 7)

    @Test func layoutIsLittleEndianAndFixed() {
        let bytes = self.sample.encoded()
        #expect(bytes.count == 40)
        #expect(Array(bytes[0..<4]) == [0x42, 0x52, 0x56, 0x53])  // "SVRB" little-endian
        #expect(Array(bytes[4..<8]) == [1, 0, 40, 0])  // version 1, size 40
        #expect(Array(bytes[8..<12]) == [2, 0, 0, 0])  // MEM_WRITE
        #expect(Array(bytes[12..<16]) == [0x44, 0x33, 0x22, 0x11])
        #expect(Array(bytes[16..<24]) == [0x00, 0x50, 0x34, 0x12, 0x00, 0x7F, 0, 0])
        #expect(Array(bytes[24..<32]) == [0, 0x10, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[32..<40]) == [7, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func roundTrip() {
        for access in [SanAccess.read, .write, .readWrite] {
            var d = self.sample
            d.access = access
            #expect(VerbsDescriptor.decode(d.encoded()) == .success(d))
        }
        let bytes = self.sample.encoded()
        let viaPointer = bytes.withUnsafeBytes { VerbsDescriptor.decode($0.baseAddress, length: 40) }
        #expect(viaPointer == .success(self.sample))
    }

    @Test func wrongLengthsAreRefused() {
        let bytes = self.sample.encoded()
        for n in [0, 1, 24, 39] { #expect(VerbsDescriptor.decode(Array(bytes.prefix(n))) == .failure(.wrongLength(n))) }
        #expect(VerbsDescriptor.decode(bytes + [0]) == .failure(.wrongLength(41)))
        let short = bytes.withUnsafeBytes { VerbsDescriptor.decode($0.baseAddress, length: 24) }
        #expect(short == .failure(.wrongLength(24)))
        #expect(VerbsDescriptor.decode(nil, length: 40) == .failure(.wrongLength(40)))
    }

    @Test func headerFieldsAreChecked() {
        var b = self.sample.encoded()
        b[0] ^= 1
        #expect(VerbsDescriptor.decode(b) == .failure(.badMagic(0x5356_5243)))
        b = self.sample.encoded()
        b[4] = 2
        #expect(VerbsDescriptor.decode(b) == .failure(.unsupportedVersion(2)))
        b = self.sample.encoded()
        b[6] = 24
        #expect(VerbsDescriptor.decode(b) == .failure(.sizeMismatch(24)))
        for access: UInt8 in [0, 4, 255] {
            b = self.sample.encoded()
            b[8] = access
            #expect(VerbsDescriptor.decode(b) == .failure(.badAccess(UInt32(access))))
        }
    }

    @Test func regionsMustBeNonEmptyAndNotWrap() {
        var d = self.sample
        d.length = 0
        #expect(VerbsDescriptor.decode(d.encoded()) == .failure(.emptyRegion))
        d.length = 2
        d.address = UInt64.max - 1
        #expect(VerbsDescriptor.decode(d.encoded()) == .failure(.regionWraps))
        d.length = 1
        #expect(VerbsDescriptor.decode(d.encoded()) == .success(d))
    }

    /// No single-bit corruption of the header or the access field goes unnoticed.
    @Test func everyHeaderBitFlipIsRefused() {
        let good = self.sample.encoded()
        for byte in 0..<12 {
            for bit in 0..<8 {
                var b = good
                b[byte] ^= UInt8(1 << bit)
                if case .success = VerbsDescriptor.decode(b) {
                    // The only tolerated flips are access changes between valid values.
                    #expect(byte == 8 && (b[8] == 1 || b[8] == 3), "flip of byte \(byte) bit \(bit) accepted")
                }
            }
        }
    }

    @Test func targetChecksRightsAndBounds() {
        let d = self.sample  // MEM_WRITE, 4096 bytes
        #expect(d.target(offset: 0, count: 4096, needs: .write) == .success(d.address))
        #expect(d.target(offset: 100, count: 1024, needs: .write) == .success(d.address + 100))
        #expect(d.target(offset: 4096, count: 0, needs: .write) == .success(d.address + 4096))
        #expect(d.target(offset: 1, count: 4096, needs: .write) == .failure(.fault))
        #expect(d.target(offset: UInt32.max, count: UInt32.max, needs: .write) == .failure(.fault))
        #expect(d.target(offset: 0, count: 1, needs: .read) == .failure(.fault), "a MEM_WRITE region is not readable")
        var rw = d
        rw.access = .readWrite
        #expect(rw.target(offset: 0, count: 1, needs: .read) == .success(d.address))
    }
}
