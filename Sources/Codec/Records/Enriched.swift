/// What the enrichment worker adds. Enriched records are the upstream record's own bytes, as
/// they arrived, with these fields appended (`source`, then `enrichment` for parcels or
/// `valuation`, `hub_observation`, `hub_observation_reason` for declarations), so analysts can
/// always tell upstream facts from derived ones and no upstream field is ever rewritten.

/// An FX rate as used for a conversion.
public struct FXUsed: Hashable, Sendable {
    public var currency: String
    public var eurPerUnit: Amount
    public var rateDate: String
    /// `identity`, `customs_monthly` or `latest_available`.
    public var rule: String

    public init(currency: String, eurPerUnit: Amount, rateDate: String, rule: String) {
        self.currency = currency
        self.eurPerUnit = eurPerUnit
        self.rateDate = rateDate
        self.rule = rule
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("currency"); w.string(currency)
        w.key("eur_per_unit"); w.amount(eurPerUnit)
        w.key("rate_date"); w.string(rateDate)
        w.key("rule"); w.string(rule)
        w.endObject()
    }

    public static func decode(from r: inout JSONReader) throws(DecodeError) -> FXUsed {
        var currency: String?, rate: Amount?, date: String?, rule: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "currency" { currency = try r.readString() }
            else if key == "eur_per_unit" { rate = try r.readAmount() }
            else if key == "rate_date" { date = try r.readString() }
            else if key == "rule" { rule = try r.readString() }
            else { try r.skipValue() }
        }
        return FXUsed(currency: try required(currency, "currency"), eurPerUnit: try required(rate, "eur_per_unit"),
                      rateDate: try required(date, "rate_date"), rule: try required(rule, "rule"))
    }
}

/// HS classification of one item, resolved against the reference tables.
public struct HSInfo: Hashable, Sendable {
    public var hsCode: String?
    public var chapter: String?
    public var chapterName: String?
    public var heading: String?
    public var headingName: String?
    public var strategicCategory: String?
    public var strategicConfidence: String?

    public init(hsCode: String?, chapter: String?, chapterName: String?, heading: String?, headingName: String?,
                strategicCategory: String?, strategicConfidence: String?) {
        self.hsCode = hsCode
        self.chapter = chapter
        self.chapterName = chapterName
        self.heading = heading
        self.headingName = headingName
        self.strategicCategory = strategicCategory
        self.strategicConfidence = strategicConfidence
    }

    public func encodeFields(to w: inout JSONWriter) {
        w.key("hs_code"); w.string(hsCode)
        w.key("hs_chapter"); w.string(chapter)
        w.key("hs_chapter_name"); w.string(chapterName)
        w.key("hs_heading"); w.string(heading)
        w.key("hs_heading_name"); w.string(headingName)
        w.key("strategic")
        if let strategicCategory {
            w.beginObject()
            w.key("category"); w.string(strategicCategory)
            w.key("confidence"); w.string(strategicConfidence)
            w.endObject()
        } else {
            w.null()
        }
    }
}

/// The join state a parcel event carries: the declaration lodged for the parcel, if seen.
public struct DeclarationSummary: Hashable, Sendable {
    public var declarationID: String
    public var lodgedAt: Timestamp
    public var regime: String
    public var totalIntrinsicValueEUR: Amount?
    public var overLowValueThreshold: Bool?

    public init(declarationID: String, lodgedAt: Timestamp, regime: String, totalIntrinsicValueEUR: Amount?, overLowValueThreshold: Bool?) {
        self.declarationID = declarationID
        self.lodgedAt = lodgedAt
        self.regime = regime
        self.totalIntrinsicValueEUR = totalIntrinsicValueEUR
        self.overLowValueThreshold = overLowValueThreshold
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("declaration_id"); w.string(declarationID)
        w.key("lodged_at"); w.timestamp(lodgedAt)
        w.key("regime"); w.string(regime)
        w.key("total_intrinsic_value_eur"); if let v = totalIntrinsicValueEUR { w.amount(v) } else { w.null() }
        w.key("over_low_value_threshold"); if let b = overLowValueThreshold { w.bool(b) } else { w.null() }
        w.endObject()
    }

    public static func decode(from r: inout JSONReader) throws(DecodeError) -> DeclarationSummary {
        var id: String?, lodged: Timestamp?, regime: String?, total: Amount?, over: Bool?
        try r.readObject { r, key throws(DecodeError) in
            if key == "declaration_id" { id = try r.readString() }
            else if key == "lodged_at" { lodged = try r.readTimestamp() }
            else if key == "regime" { regime = try r.readString() }
            else if key == "total_intrinsic_value_eur" { total = r.readNull() ? nil : try r.readAmount() }
            else if key == "over_low_value_threshold" { over = r.readNull() ? nil : try r.readBool() }
            else { try r.skipValue() }
        }
        return DeclarationSummary(declarationID: try required(id, "declaration_id"), lodgedAt: try required(lodged, "lodged_at"),
                                  regime: try required(regime, "regime"), totalIntrinsicValueEUR: total, overLowValueThreshold: over)
    }
}

/// `enrichment` of a parcel event (`parcels.enriched`).
public struct ParcelEnrichment: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "parcel.enrichment", major: 1)
    public var originAirport: String?
    public var originCountry: String?
    public var route: String?
    public var declaredValueEUR: Amount?
    public var fx: FXUsed?
    public var valuePerKgEUR: Amount?
    public var destinationCountry: String
    /// `eu`, `eea`, `other` or `unknown`.
    public var destinationRegion: String
    public var items: [HSInfo]
    public var strategicGoods: Bool
    public var declaration: DeclarationSummary?
    /// What the reference tables could not resolve: `airport:XYZ`, `currency:ABC`, `hs:…`, `country:…`.
    public var unknown: [String]

    public init(originAirport: String?, originCountry: String?, route: String?, declaredValueEUR: Amount?, fx: FXUsed?,
                valuePerKgEUR: Amount?, destinationCountry: String, destinationRegion: String, items: [HSInfo],
                strategicGoods: Bool, declaration: DeclarationSummary?, unknown: [String]) {
        self.originAirport = originAirport
        self.originCountry = originCountry
        self.route = route
        self.declaredValueEUR = declaredValueEUR
        self.fx = fx
        self.valuePerKgEUR = valuePerKgEUR
        self.destinationCountry = destinationCountry
        self.destinationRegion = destinationRegion
        self.items = items
        self.strategicGoods = strategicGoods
        self.declaration = declaration
        self.unknown = unknown
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("schema"); w.string(Self.schema.description)
        w.key("origin_airport"); w.string(originAirport)
        w.key("origin_country"); w.string(originCountry)
        w.key("route"); w.string(route)
        w.key("declared_value_eur"); if let v = declaredValueEUR { w.amount(v) } else { w.null() }
        w.key("fx"); if let fx { fx.encode(to: &w) } else { w.null() }
        w.key("value_per_kg_eur"); if let v = valuePerKgEUR { w.amount(v) } else { w.null() }
        w.key("destination_country"); w.string(destinationCountry)
        w.key("destination_region"); w.string(destinationRegion)
        w.key("items"); w.beginArray()
        for item in items {
            w.beginObject()
            item.encodeFields(to: &w)
            w.endObject()
        }
        w.endArray()
        w.key("strategic_goods"); w.bool(strategicGoods)
        w.key("declaration"); if let declaration { declaration.encode(to: &w) } else { w.null() }
        w.key("unknown"); w.beginArray(); for u in unknown { w.string(u) }; w.endArray()
        w.endObject()
    }
}

/// `valuation` of a declaration (`customs.enriched`).
public struct DeclarationValuation: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "customs.valuation", major: 1)
    /// Art. 23(1) Reg. 1186/2009 duty relief: intrinsic value up to EUR 150.
    public static let lowValueThresholdEUR = Amount(units: 150)

    public struct Line: Hashable, Sendable {
        public var hs: HSInfo
        public var lineValueEUR: Amount?
        public var unitValueEUR: Amount?
        public var valuePerKgEUR: Amount?
        public init(hs: HSInfo, lineValueEUR: Amount?, unitValueEUR: Amount?, valuePerKgEUR: Amount?) {
            self.hs = hs
            self.lineValueEUR = lineValueEUR
            self.unitValueEUR = unitValueEUR
            self.valuePerKgEUR = valuePerKgEUR
        }
    }

    public var items: [Line]
    public var totalIntrinsicValueEUR: Amount?
    public var overLowValueThreshold: Bool?
    public var fx: [FXUsed]
    public var unknown: [String]

    public init(items: [Line], totalIntrinsicValueEUR: Amount?, overLowValueThreshold: Bool?, fx: [FXUsed], unknown: [String]) {
        self.items = items
        self.totalIntrinsicValueEUR = totalIntrinsicValueEUR
        self.overLowValueThreshold = overLowValueThreshold
        self.fx = fx
        self.unknown = unknown
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("schema"); w.string(Self.schema.description)
        w.key("items"); w.beginArray()
        for line in items {
            w.beginObject()
            line.hs.encodeFields(to: &w)
            w.key("line_value_eur"); if let v = line.lineValueEUR { w.amount(v) } else { w.null() }
            w.key("unit_value_eur"); if let v = line.unitValueEUR { w.amount(v) } else { w.null() }
            w.key("value_per_kg_eur"); if let v = line.valuePerKgEUR { w.amount(v) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.key("total_intrinsic_value_eur"); if let v = totalIntrinsicValueEUR { w.amount(v) } else { w.null() }
        w.key("low_value_threshold_eur"); w.amount(Self.lowValueThresholdEUR)
        w.key("over_low_value_threshold"); if let b = overLowValueThreshold { w.bool(b) } else { w.null() }
        w.key("fx"); w.beginArray(); for f in fx { f.encode(to: &w) }; w.endArray()
        w.key("unknown"); w.beginArray(); for u in unknown { w.string(u) }; w.endArray()
        w.endObject()
    }
}

/// What the hub itself measured about a declared parcel (`hub_observation`).
public struct HubObservation: Hashable, Sendable {
    public var weightGrams: Int64
    public var originAirport: String?
    public var originCountry: String?
    public var merchantID: String
    public var parcelEventID: String
    public var observedAt: Timestamp

    public init(weightGrams: Int64, originAirport: String?, originCountry: String?, merchantID: String, parcelEventID: String, observedAt: Timestamp) {
        self.weightGrams = weightGrams
        self.originAirport = originAirport
        self.originCountry = originCountry
        self.merchantID = merchantID
        self.parcelEventID = parcelEventID
        self.observedAt = observedAt
    }

    public func encode(to w: inout JSONWriter) {
        w.beginObject()
        w.key("weight_grams"); w.int(weightGrams)
        w.key("origin_airport"); w.string(originAirport)
        w.key("origin_country"); w.string(originCountry)
        w.key("merchant_id"); w.string(merchantID)
        w.key("parcel_event_id"); w.string(parcelEventID)
        w.key("observed_at"); w.timestamp(observedAt)
        w.endObject()
    }

    public static func decode(from r: inout JSONReader) throws(DecodeError) -> HubObservation {
        var weight: Int64?, airport: String?, country: String?, merchant: String?, event: String?, at: Timestamp?
        try r.readObject { r, key throws(DecodeError) in
            if key == "weight_grams" { weight = try r.readCount() }
            else if key == "origin_airport" { airport = try r.readOptionalString() }
            else if key == "origin_country" { country = try r.readOptionalString() }
            else if key == "merchant_id" { merchant = try r.readString() }
            else if key == "parcel_event_id" { event = try r.readString() }
            else if key == "observed_at" { at = try r.readTimestamp() }
            else { try r.skipValue() }
        }
        return HubObservation(weightGrams: try required(weight, "weight_grams"), originAirport: airport, originCountry: country,
                              merchantID: try required(merchant, "merchant_id"), parcelEventID: try required(event, "parcel_event_id"),
                              observedAt: try required(at, "observed_at"))
    }
}

/// Splices derived fields onto an upstream record's bytes: `{…upstream…, "source": …, …}`.
/// The upstream object is kept byte for byte (only whitespace before its closing brace goes).
public enum RecordSplice {
    public static let reservedKeys: Set<String> = ["source", "enrichment", "valuation", "hub_observation", "hub_observation_reason", "sensitivity"]

    /// The key, when it is one that derived records add (the decoders note it on the record).
    @inline(__always)
    static func reservedKey(_ key: JSONKey) -> String? {
        key.count <= 22 && reservedKeys.contains(key.string) ? key.string : nil
    }

    /// Refuses an upstream record that has a key derived records add (splicing would make two
    /// values of one key).
    public static func checkNoReservedKey(_ reservedKey: String?) throws(DecodeError) {
        if let key = reservedKey {
            throw DecodeError("upstream record uses \"\(key)\", a field name reserved for derived data")
        }
    }

    public static func splice(_ upstream: UnsafeRawBufferPointer, into w: inout JSONWriter, _ appendFields: (inout JSONWriter) -> Void) {
        var end = upstream.count - 1
        while end > 0 && upstream[end] != UInt8(ascii: "}") { end -= 1 }
        var last = end - 1
        while last > 0 && (upstream[last] == 0x20 || upstream[last] == 0x0A || upstream[last] == 0x0D || upstream[last] == 0x09) { last -= 1 }
        let empty = upstream[last] == UInt8(ascii: "{")
        w.rawOpenObject(UnsafeRawBufferPointer(rebasing: upstream[0..<(last + 1)]), hasFields: !empty)
        appendFields(&w)
        w.endObject()
    }
}

extension JSONWriter {
    /// Continues an object whose opening bytes (`{` and any fields) are given raw.
    public mutating func rawOpenObject(_ prefix: UnsafeRawBufferPointer, hasFields: Bool) {
        separator()
        put(prefix.bindMemory(to: UInt8.self))
        depth += 1
        let bit: UInt64 = 1 << UInt64(depth & 63)
        if hasFields { hasElement |= bit } else { hasElement &= ~bit }
    }
}
