import Testing
@testable import EdgeCore

@Suite struct Base64Tests {
    // RFC 4648 section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(_ input: String, _ encoded: String) {
        #expect(Base64.encode(Array(input.utf8)) == encoded)
    }

    @Test func usesTheStandardAlphabetWithPlusAndSlash() {
        #expect(Base64.encode([0xFB, 0xFF]) == "+/8=")
        #expect(Base64.encode([0xFF, 0xFF, 0xFF]) == "////")
        #expect(Base64.encode([0xFB, 0xEF, 0xBE]) == "++++")
        #expect(Base64.encode([0, 0, 0]) == "AAAA")
        #expect(Base64.encode([0]) == "AA==")
        #expect(Base64.encode([0, 0]) == "AAA=")
    }

    @Test func everyByteValue() {
        let bytes = (0...255).map { UInt8($0) }
        let encoded = Base64.encode(bytes)
        #expect(encoded.utf8.count == 344)
        #expect(encoded.hasPrefix("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB"))
        #expect(encoded.hasSuffix("8/T19vf4+fr7/P3+/w=="))
    }

    @Test(arguments: 0...10)
    func lengthIsPaddedToFour(_ count: Int) {
        let encoded = Base64.encode(Array(repeating: 0x61, count: count))
        #expect(encoded.utf8.count == (count + 2) / 3 * 4)
        #expect(encoded.utf8.filter { $0 == UInt8(ascii: "=") }.count == (3 - count % 3) % 3)
    }
}
