import Codec

/// What the scorer reads from a customs.enriched record: the declaration as lodged, the
/// enrichment's EUR valuation per line and the hub's own observation of the parcel.
struct EnrichedDeclaration {
    struct Line {
        var hsCode: String
        var heading: String
        var chapter: String
        var description: String
        var quantity: Int64
        var netMassGrams: Int64
        var lineValueEUR: Double?
        var valuePerKgEUR: Double?
    }

    var declaration: CustomsDeclaration
    var lines: [Line]
    var totalValueEUR: Double?
    var scannedWeightGrams: Int64?
    var flightOriginCountry: String?
    /// The enriched record's own coordinates (`source` of the score).
    var source: Provenance

    init(json bytes: UnsafeRawBufferPointer, source: Provenance) throws(DecodeError) {
        self.source = source
        var valued: [(heading: String?, chapter: String?, line: Double?, perKg: Double?)] = []
        var total: Double?, weight: Int64?, origin: String?
        // One pass: the declaration's own fields, and the enrichment's through the extra-field hook.
        declaration = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in
            try CustomsDeclaration(from: &r) { r, key throws(DecodeError) in
                if key == "valuation" {
                    if r.readNull() { return true }
                    try r.readObject { r, key throws(DecodeError) in
                        if key == "items" {
                            try r.readArray { r, _ throws(DecodeError) in
                                var heading: String?, chapter: String?, line: Double?, perKg: Double?
                                try r.readObject { r, key throws(DecodeError) in
                                    if key == "hs_heading" { heading = try r.readOptionalString() }
                                    else if key == "hs_chapter" { chapter = try r.readOptionalString() }
                                    else if key == "line_value_eur" { line = r.readNull() ? nil : try r.readDouble() }
                                    else if key == "value_per_kg_eur" { perKg = r.readNull() ? nil : try r.readDouble() }
                                    else { try r.skipValue() }
                                }
                                valued.append((heading, chapter, line, perKg))
                            }
                        } else if key == "total_intrinsic_value_eur" {
                            total = r.readNull() ? nil : try r.readDouble()
                        } else { try r.skipValue() }
                    }
                    return true
                } else if key == "hub_observation" {
                    if r.readNull() { return true }
                    let obs = try HubObservation.decode(from: &r)
                    weight = obs.weightGrams
                    origin = obs.originCountry
                    return true
                }
                return false
            }
        }
        totalValueEUR = total
        scannedWeightGrams = weight
        flightOriginCountry = origin
        lines = declaration.items.enumerated().map { i, item in
            let v: (heading: String?, chapter: String?, line: Double?, perKg: Double?) = i < valued.count ? valued[i] : (nil, nil, nil, nil)
            return Line(hsCode: item.hsCode, heading: v.heading ?? String(item.hsCode.prefix(4)), chapter: v.chapter ?? String(item.hsCode.prefix(2)),
                        description: item.description, quantity: item.quantity, netMassGrams: item.netMassGrams,
                        lineValueEUR: v.line, valuePerKgEUR: v.perKg)
        }
    }
}
