/// A low-value import declaration, EU "H7" data set simplified (`customs.declarations`,
/// key `declaration_id`).
public struct CustomsDeclaration: Hashable, Sendable {
    public static let schema = SchemaVersion(name: "customs.declaration", major: 1)

    public struct Seller: Hashable, Sendable {
        public var id: String
        public var name: String
        public var country: String
        public init(id: String, name: String, country: String) {
            self.id = id
            self.name = name
            self.country = country
        }
    }

    public struct Item: Hashable, Sendable {
        public var hsCode: String
        public var description: String
        public var quantity: Int64
        /// For the whole line.
        public var netMassGrams: Int64
        /// Per unit, in invoice currency: a line is worth amount × quantity.
        public var intrinsicValue: Money
        public init(hsCode: String, description: String, quantity: Int64, netMassGrams: Int64, intrinsicValue: Money) {
            self.hsCode = hsCode
            self.description = description
            self.quantity = quantity
            self.netMassGrams = netMassGrams
            self.intrinsicValue = intrinsicValue
        }

        public var lineValue: Money { Money(amount: intrinsicValue.amount * quantity, currency: intrinsicValue.currency) }
    }

    public var schemaVersion: SchemaVersion = CustomsDeclaration.schema
    /// A top-level field of the decoded JSON that derived records add (`RecordSplice.reservedKeys`),
    /// if any: found by the one decoding pass, so the enricher needs no second one.
    public var reservedKey: String?
    public var declarationID: String
    public var parcelID: String
    public var lodgedAt: Timestamp
    public var regime: String
    public var declarantID: String
    public var seller: Seller
    public var iossNumber: String?
    public var consignee: Consignee
    public var originCountry: String
    public var destinationCountry: String
    public var items: [Item]
    public var grossMassGrams: Int64
    public var transportCost: Money?
    public var vatDeclared: Money?

    public init(declarationID: String, parcelID: String, lodgedAt: Timestamp, regime: String, declarantID: String,
                seller: Seller, iossNumber: String?, consignee: Consignee, originCountry: String, destinationCountry: String,
                items: [Item], grossMassGrams: Int64, transportCost: Money?, vatDeclared: Money?) {
        self.declarationID = declarationID
        self.parcelID = parcelID
        self.lodgedAt = lodgedAt
        self.regime = regime
        self.declarantID = declarantID
        self.seller = seller
        self.iossNumber = iossNumber
        self.consignee = consignee
        self.originCountry = originCountry
        self.destinationCountry = destinationCountry
        self.items = items
        self.grossMassGrams = grossMassGrams
        self.transportCost = transportCost
        self.vatDeclared = vatDeclared
    }
}

extension CustomsDeclaration: JSONRecord {
    public init(json bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self = try JSONReader.decode(bytes) { (r: inout JSONReader) throws(DecodeError) in try CustomsDeclaration(from: &r) }
    }

    public init(from r: inout JSONReader) throws(DecodeError) {
        try self.init(from: &r) { _, _ throws(DecodeError) in false }
    }

    /// Decodes a declaration and, in the same pass, the fields a derived record adds to it:
    /// `extraField` sees every top-level key the declaration does not define and returns true
    /// when it has read the value (otherwise the value is skipped, and the key is still noted
    /// if it is a reserved one).
    public init(from r: inout JSONReader, extraField: (inout JSONReader, JSONKey) throws(DecodeError) -> Bool) throws(DecodeError) {
        var f = FieldSet()
        var schema: SchemaVersion?, declarationID: String?, parcelID: String?, lodgedAt: Timestamp?, regime: String?
        var declarant: String?, seller: Seller?, ioss: String?, consignee: Consignee?, origin: String?, destination: String?
        var items: [Item]?, gross: Int64?, transport: Money?, vat: Money?
        var reserved: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "schema" { try f.mark(0, "schema"); schema = try r.readSchema(expecting: CustomsDeclaration.schema) }
            else if key == "declaration_id" { try f.mark(1, "declaration_id"); declarationID = try r.readNonEmptyString() }
            else if key == "parcel_id" { try f.mark(2, "parcel_id"); parcelID = try r.readNonEmptyString() }
            else if key == "lodged_at" { try f.mark(3, "lodged_at"); lodgedAt = try r.readTimestamp() }
            else if key == "regime" { try f.mark(4, "regime"); regime = try r.readNonEmptyString() }
            else if key == "declarant_id" { try f.mark(5, "declarant_id"); declarant = try r.readNonEmptyString() }
            else if key == "seller" { try f.mark(6, "seller"); seller = try CustomsDeclaration.readSeller(&r) }
            else if key == "ioss_number" { try f.mark(7, "ioss_number"); ioss = try r.readOptionalString() }
            else if key == "consignee" { try f.mark(8, "consignee"); consignee = try Consignee.decode(from: &r) }
            else if key == "origin_country" { try f.mark(9, "origin_country"); origin = try r.readCountry() }
            else if key == "destination_country" { try f.mark(10, "destination_country"); destination = try r.readCountry() }
            else if key == "items" { try f.mark(11, "items"); items = try CustomsDeclaration.readItems(&r) }
            else if key == "gross_mass_grams" { try f.mark(12, "gross_mass_grams"); gross = try r.readCount() }
            else if key == "transport_cost" { try f.mark(13, "transport_cost"); transport = r.readNull() ? nil : try r.readNonNegativeMoney() }
            else if key == "vat_declared" { try f.mark(14, "vat_declared"); vat = r.readNull() ? nil : try r.readNonNegativeMoney() }
            else if try !extraField(&r, key) {
                if reserved == nil { reserved = RecordSplice.reservedKey(key) }
                try r.skipValue()
            }
        }
        self.init(declarationID: try required(declarationID, "declaration_id"), parcelID: try required(parcelID, "parcel_id"),
                  lodgedAt: try required(lodgedAt, "lodged_at"), regime: try required(regime, "regime"),
                  declarantID: try required(declarant, "declarant_id"), seller: try required(seller, "seller"), iossNumber: ioss,
                  consignee: try required(consignee, "consignee"), originCountry: try required(origin, "origin_country"),
                  destinationCountry: try required(destination, "destination_country"), items: try required(items, "items"),
                  grossMassGrams: try required(gross, "gross_mass_grams"), transportCost: transport, vatDeclared: vat)
        schemaVersion = try required(schema, "schema")
        reservedKey = reserved
    }

    static func readSeller(_ r: inout JSONReader) throws(DecodeError) -> Seller {
        var id: String?, name: String?, country: String?
        try r.readObject { r, key throws(DecodeError) in
            if key == "id" { id = try r.readNonEmptyString() }
            else if key == "name" { name = try r.readString() }
            else if key == "country" { country = try r.readCountry() }
            else { try r.skipValue() }
        }
        return Seller(id: try required(id, "id"), name: try required(name, "name"), country: try required(country, "country"))
    }

    static func readItems(_ r: inout JSONReader) throws(DecodeError) -> [Item] {
        var items: [Item] = []
        try r.readArray { r, _ throws(DecodeError) in
            var hs: String?, description: String?, quantity: Int64?, mass: Int64?, value: Money?
            try r.readObject { r, key throws(DecodeError) in
                if key == "hs_code" { hs = try r.readHSCode() }
                else if key == "description" { description = try r.readString() }
                else if key == "quantity" {
                    let q = try r.readInt()
                    if q < 1 { throw DecodeError("must be at least 1, got \(q)") }
                    quantity = q
                }
                else if key == "net_mass_grams" { mass = try r.readCount() }
                else if key == "intrinsic_value" { value = try r.readNonNegativeMoney() }
                else { try r.skipValue() }
            }
            items.append(Item(hsCode: try required(hs, "hs_code"), description: try required(description, "description"),
                              quantity: try required(quantity, "quantity"), netMassGrams: try required(mass, "net_mass_grams"),
                              intrinsicValue: try required(value, "intrinsic_value")))
        }
        return items
    }

    public func encodeFields(to w: inout JSONWriter) {
        w.key("schema"); w.string(schemaVersion.description)
        w.key("declaration_id"); w.string(declarationID)
        w.key("parcel_id"); w.string(parcelID)
        w.key("lodged_at"); w.timestamp(lodgedAt)
        w.key("regime"); w.string(regime)
        w.key("declarant_id"); w.string(declarantID)
        w.key("seller"); w.beginObject()
        w.key("id"); w.string(seller.id); w.key("name"); w.string(seller.name); w.key("country"); w.string(seller.country)
        w.endObject()
        w.key("ioss_number"); w.string(iossNumber)
        w.key("consignee"); consignee.encode(to: &w, withContact: false)
        w.key("origin_country"); w.string(originCountry)
        w.key("destination_country"); w.string(destinationCountry)
        w.key("items"); w.beginArray()
        for item in items {
            w.beginObject()
            w.key("hs_code"); w.string(item.hsCode)
            w.key("description"); w.string(item.description)
            w.key("quantity"); w.int(item.quantity)
            w.key("net_mass_grams"); w.int(item.netMassGrams)
            w.key("intrinsic_value"); w.money(item.intrinsicValue)
            w.endObject()
        }
        w.endArray()
        w.key("gross_mass_grams"); w.int(grossMassGrams)
        w.key("transport_cost"); w.money(transportCost)
        w.key("vat_declared"); w.money(vatDeclared)
    }

}
