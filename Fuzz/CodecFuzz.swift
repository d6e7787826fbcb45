// libFuzzer target for the Codec: any bytes must decode or fail with a DecodeError, never crash;
// whatever decodes must encode to bytes that decode back to the same record.
// Built and run by ops/fuzz (swiftc -sanitize=fuzzer,address with the Codec sources).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // `reservedKey` notes an unknown field of the input, and encoding keeps only the record's
    // own fields (as for every unknown field): the round trip compares the records without it.
    if var p = try? ParcelEvent(json: bytes) {
        p.reservedKey = nil
        let again = p.jsonBytes.withUnsafeBytes { try? ParcelEvent(json: $0) }
        precondition(again == p, "parcel event did not round-trip")
    }
    if var d = try? CustomsDeclaration(json: bytes) {
        d.reservedKey = nil
        let again = d.jsonBytes.withUnsafeBytes { try? CustomsDeclaration(json: $0) }
        precondition(again == d, "declaration did not round-trip")
    }
    if let a = try? AccessLog(json: bytes) {
        let again = a.jsonBytes.withUnsafeBytes { try? AccessLog(json: $0) }
        precondition(again == a, "access log did not round-trip")
    }
    var reader = JSONReader(bytes)
    _ = try? reader.skipValue()
    return 0
}
