/// One scan or status event of a parcel at the hub (`parcels.events`, key `parcel_id`).
public struct ParcelEvent: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "parcel.event", major: 1)

    public struct EventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        public static let arrived = EventType(rawValue: "ARRIVED")
        public static let uldBreakdown = EventType(rawValue: "ULD_BREAKDOWN")
        public static let sorted = EventType(rawValue: "SORTED")
        public static let customsHold = EventType(rawValue: "CUSTOMS_HOLD")
        public static let customsReleased = EventType(rawValue: "CUSTOMS_RELEASED")
        public static let departed = EventType(rawValue: "DEPARTED")
        public static let known: [EventType] = [.arrived, .uldBreakdown, .sorted, .customsHold, .customsReleased, .departed]
    }

    public struct Flight: Hashable, Sendable {
        public var number: String
        public var originAirport: String
        public init(number: String, originAirport: String) {
            self.number = number
            self.originAirport = originAirport
        }
    }

    public struct Merchant: Hashable, Sendable {
        public var id: String
        public var name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    public struct Item: Hashable, Sendable {
        public var description: String
        public var hsCode: String?
        public var quantity: Int64
        public init(description: String, hsCode: String?, quantity: Int64) {
            self.description = description
            self.hsCode = hsCode
            self.quantity = quantity
        }
    }

    public var schemaVersion: SchemaVersion = ParcelEvent.schema
    /// A top-level field of the decoded JSON that derived records add (`RecordSplice.reservedKeys`),
    /// if any: found by the one decoding pass, so the enricher needs no second one.
    public var reservedKey: String?
    public var eventID: String
    public var parcelID: String
    public var trackingNumber: String
    public var mawb: String?
    public var eventType: EventType
    public var occurredAt: Timestamp
    public var hub: String
    public var flight: Flight?
    public var merchant: Merchant
    public var consignee: Consignee
    public var weightGrams: Int64
    public var declaredValue: Money
    public var items: [Item]
    public var customsDeclarationID: String?

    public init(eventID: String, parcelID: String, trackingNumber: String, mawb: String?, eventType: EventType,
                occurredAt: Timestamp, hub: String, flight: Flight?, merchant: Merchant, consignee: Consignee,
                weightGrams: Int64, declaredValue: Money, items: [Item], customsDeclarationID: String?) {
        self.eventID = eventID
        self.parcelID = parcelID
        self.trackingNumber = trackingNumber
        self.mawb = mawb
        self.eventType = eventType
        self.occurredAt = occurredAt
        self.hub = hub
        self.flight = flight
        self.merchant = merchant
        self.consignee = consignee
        self.weightGrams = weightGrams
        self.declaredValue = declaredValue
        self.items = items
        self.customsDeclarationID = customsDeclarationID
    }
}

/// The buyer: personal data under GDPR. Parcel events carry e-mail and phone, declarations don't.
public struct Consignee: Hashable, Sendable {
    public var name: String
    public var street: String
    public var postalCode: String
    public var city: String
    public var country: String
    public var email: String?
    public var phone: String?

    public init(name: String, street: String, postalCode: String, city: String, country: String, email: String? = nil, phone: String? = nil) {
        self.name = name
        self.street = street
        self.postalCode = postalCode
        self.city = city
        self.country = country
        self.email = email
        self.phone = phone
    }

    public static func decode(from r: inout JSONReader) throws(DecodeError) -> Consignee {
        var f = FieldSet()
        var name: String?, street: String?, postal: String?, city: String?, country: String?, email: String?, phone: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "name" { try f.mark(0, "name"); name = try r.readString() }
            else if key == "street" { try f.mark(1, "street"); street = try r.readString() }
            else if key == "postal_code" { try f.mark(2, "postal_code"); postal = try r.readString() }
            else if key == "city" { try f.mark(3, "city"); city = try r.readString() }
            else if key == "country" { try f.mark(4, "country"); country = try r.readCountry() }
            else if key == "email" { try f.mark(5, "email"); email = try r.readOptionalString() }
            else if key == "phone" { try f.mark(6, "phone"); phone = try r.readOptionalString() }
            else { try r.skipValue() }
        }
        return Consignee(name: try required(name, "name"), street: try required(street, "street"),
                         postalCode: try required(postal, "postal_code"), city: try required(city, "city"),
                         country: try required(country, "country"), email: email, phone: phone)
    }

    /// `withContact`: parcel events carry e-mail and phone keys (null when absent), declarations have none.
    public func encode(to w: inout JSONWriter, withContact: Bool) {
        w.beginObject()
        w.key("name"); w.string(name)
        w.key("street"); w.string(street)
        w.key("postal_code"); w.string(postalCode)
        w.key("city"); w.string(city)
        w.key("country"); w.string(country)
        if withContact {
            if let email { w.key("email"); w.string(email) }
            if let phone { w.key("phone"); w.string(phone) }
        }
        w.endObject()
    }
}

extension ParcelEvent: JSONRecord {
    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try ParcelEvent(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        var f = FieldSet()
        var schema: SchemaVersion?, eventID: String?, parcelID: String?, tracking: String?, mawb: String?
        var eventType: String?, occurredAt: Timestamp?, hub: String?, flight: Flight?, merchant: Merchant?
        var consignee: Consignee?, weight: Int64?, value: Money?, items: [Item]?, declarationID: String?
        var reserved: String?
        try r.readObject { r, key throws(DecodeError) in
            switch key.count {
            case 3 where key == "hub": try f.mark(0, "hub"); hub = try r.readNonEmptyString()
            case 4 where key == "mawb": try f.mark(1, "mawb"); mawb = try r.readOptionalString()
            case 5 where key == "items": try f.mark(2, "items"); items = try ParcelEvent.readItems(&r)
            case 6 where key == "schema": try f.mark(3, "schema"); schema = try r.readSchema(expecting: ParcelEvent.schema)
            case 6 where key == "flight": try f.mark(4, "flight"); flight = try ParcelEvent.readFlight(&r)
            case 8 where key == "event_id": try f.mark(5, "event_id"); eventID = try r.readNonEmptyString()
            case 8 where key == "merchant": try f.mark(6, "merchant"); merchant = try ParcelEvent.readMerchant(&r)
            case 9 where key == "parcel_id": try f.mark(7, "parcel_id"); parcelID = try r.readNonEmptyString()
            case 9 where key == "consignee": try f.mark(8, "consignee"); consignee = try Consignee.decode(from: &r)
            case 10 where key == "event_type": try f.mark(9, "event_type"); eventType = try r.readNonEmptyString()
            case 11 where key == "occurred_at": try f.mark(10, "occurred_at"); occurredAt = try r.readTimestamp()
            case 12 where key == "weight_grams": try f.mark(11, "weight_grams"); weight = try r.readCount()
            case 14 where key == "declared_value": try f.mark(12, "declared_value"); value = try r.readMoney()
            case 15 where key == "tracking_number": try f.mark(13, "tracking_number"); tracking = try r.readNonEmptyString()
            case 22 where key == "customs_declaration_id": try f.mark(14, "customs_declaration_id"); declarationID = try r.readOptionalString()
            default:
                if reserved == nil { reserved = RecordSplice.reservedKey(key) }
                try r.skipValue()
            }
        }
        let money = try required(value, "declared_value")
        if money.amount < .zero { throw DecodeError("must not be negative, got \(money.amount)", path: [.key("declared_value"), .key("amount")]) }
        self.init(eventID: try required(eventID, "event_id"), parcelID: try required(parcelID, "parcel_id"),
                  trackingNumber: try required(tracking, "tracking_number"), mawb: mawb,
                  eventType: EventType(rawValue: try required(eventType, "event_type")),
                  occurredAt: try required(occurredAt, "occurred_at"), hub: try required(hub, "hub"), flight: flight,
                  merchant: try required(merchant, "merchant"), consignee: try required(consignee, "consignee"),
                  weightGrams: try required(weight, "weight_grams"), declaredValue: money,
                  items: try required(items, "items"), customsDeclarationID: declarationID)
        schemaVersion = try required(schema, "schema")
        reservedKey = reserved
    }

    static func readFlight(_ r: inout JSONReader) throws(DecodeError) -> Flight? {
        if r.readNull() { return nil }
        var number: String?, origin: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "number" { number = try r.readString() }
            else if key == "origin_airport" { origin = try r.readCode(letters: 3, uppercase: true, what: "IATA airport code") }
            else { try r.skipValue() }
        }
        return Flight(number: try required(number, "number"), originAirport: try required(origin, "origin_airport"))
    }

    static func readMerchant(_ r: inout JSONReader) throws(DecodeError) -> Merchant {
        var id: String?, name: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "id" { id = try r.readNonEmptyString() }
            else if key == "name" { name = try r.readString() }
            else { try r.skipValue() }
        }
        return Merchant(id: try required(id, "id"), name: try required(name, "name"))
    }

    static func readItems(_ r: inout JSONReader) throws(DecodeError) -> [Item] {
        var items: [Item] = []
        try r.readArray { r, _ throws(DecodeError) in
            var description: String?, hs: String?, quantity: Int64?
            try r.readObject { r, key throws(DecodeError) in
                if key == "description" { description = try r.readString() }
                else if key == "hs_code" { hs = r.readNull() ? nil : try r.readHSCode() }
                else if key == "quantity" {
                    let q = try r.readInt()
                    if q < 1 { throw DecodeError("must be at least 1, got \(q)") }
                    quantity = q
                }
                else { try r.skipValue() }
            }
            items.append(Item(description: try required(description, "description"), hsCode: hs, quantity: try required(quantity, "quantity")))
        }
        return items
    }

    /// The upstream form, deterministic.
    /// The fields without braces, so derived records can extend them.
    public func encodeFields(to w: inout JSONWriter) {
        w.key("schema"); w.string(schemaVersion.description)
        w.key("event_id"); w.string(eventID)
        w.key("parcel_id"); w.string(parcelID)
        w.key("tracking_number"); w.string(trackingNumber)
        w.key("mawb"); w.string(mawb)
        w.key("event_type"); w.string(eventType.rawValue)
        w.key("occurred_at"); w.timestamp(occurredAt)
        w.key("hub"); w.string(hub)
        w.key("flight")
        if let flight {
            w.beginObject()
            w.key("number"); w.string(flight.number)
            w.key("origin_airport"); w.string(flight.originAirport)
            w.endObject()
        } else { w.null() }
        w.key("merchant"); w.beginObject(); w.key("id"); w.string(merchant.id); w.key("name"); w.string(merchant.name); w.endObject()
        w.key("consignee"); consignee.encode(to: &w, withContact: true)
        w.key("weight_grams"); w.int(weightGrams)
        w.key("declared_value"); w.money(declaredValue)
        w.key("items")
        w.beginArray()
        for item in items {
            w.beginObject()
            w.key("description"); w.string(item.description)
            if let hs = item.hsCode { w.key("hs_code"); w.string(hs) }
            w.key("quantity"); w.int(item.quantity)
            w.endObject()
        }
        w.endArray()
        w.key("customs_declaration_id"); w.string(customsDeclarationID)
    }

}
