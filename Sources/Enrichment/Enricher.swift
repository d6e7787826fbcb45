import Codec
import ReferenceData

/// Pure enrichment rules: upstream record + reference tables → what the worker adds.
/// No Kafka, no state; every rule here is unit-tested on its own.
public enum Enricher {
    /// EUR value of an amount on a date, with the rate used (nil: no rate for that currency).
    public static func toEUR(_ money: Money, on date: String, _ ref: ReferenceSnapshot) -> (Amount, FXUsed)? {
        guard let rate = ref.fxRate(currency: money.currency, date: date) else { return nil }
        let fx = FXUsed(currency: money.currency, eurPerUnit: rate.eurPerUnit, rateDate: rate.rateDate, rule: rate.rule)
        return (money.amount.multiplied(by: rate.eurPerUnit), fx)
    }

    /// EUR per kg, nil when the mass is zero.
    public static func perKg(_ eur: Amount, grams: Int64) -> Amount? {
        guard grams > 0 else { return nil }
        return eur.divided(by: Amount(micros: grams * 1000))  // grams/1000 kg, in micro-units
    }

    public static func hsInfo(_ hsCode: String?, _ ref: ReferenceSnapshot, unknown: inout [String]) -> HSInfo {
        guard let hs = hsCode else {
            return HSInfo(hsCode: nil, chapter: nil, chapterName: nil, heading: nil, headingName: nil, strategicCategory: nil, strategicConfidence: nil)
        }
        let chapter = String(hs.prefix(2)), heading = String(hs.prefix(4))
        let chapterName = ref.chapterName(chapter)
        if chapterName == nil { unknown.append("hs:\(hs)") }
        let flag = ref.strategicFlag(hsCode: hs)
        return HSInfo(hsCode: hs, chapter: chapter, chapterName: chapterName, heading: heading, headingName: ref.headingName(heading),
                      strategicCategory: flag?.category, strategicConfidence: flag?.confidence)
    }

    /// The hub's own facts about a parcel, from one of its events.
    public static func observation(_ p: ParcelEvent, _ ref: ReferenceSnapshot) -> HubObservation {
        HubObservation(weightGrams: p.weightGrams, originAirport: p.flight?.originAirport,
                       originCountry: p.flight.flatMap { ref.airport($0.originAirport)?.country },
                       merchantID: p.merchant.id, parcelEventID: p.eventID, observedAt: p.occurredAt)
    }

    public static func enrich(_ p: ParcelEvent, declaration: DeclarationSummary?, _ ref: ReferenceSnapshot) -> ParcelEnrichment {
        var unknown: [String] = []
        let airport = p.flight?.originAirport
        let originCountry = airport.flatMap { ref.airport($0)?.country }
        if let airport, originCountry == nil { unknown.append("airport:\(airport)") }
        let value = toEUR(p.declaredValue, on: p.occurredAt.dateString, ref)
        if value == nil { unknown.append("currency:\(p.declaredValue.currency)") }
        let region = ref.region(of: p.consignee.country)
        if region == nil { unknown.append("country:\(p.consignee.country)") }
        let items = p.items.map { hsInfo($0.hsCode, ref, unknown: &unknown) }
        return ParcelEnrichment(
            originAirport: airport, originCountry: originCountry,
            route: airport.map { "\($0)-\(p.hub)" },
            declaredValueEUR: value?.0, fx: value?.1,
            valuePerKgEUR: value.flatMap { perKg($0.0, grams: p.weightGrams) },
            destinationCountry: p.consignee.country, destinationRegion: region ?? "unknown",
            items: items, strategicGoods: items.contains { $0.strategicCategory != nil },
            declaration: declaration, unknown: unknown)
    }

    /// Values every line in EUR at the rate for the lodging date; the total is over the
    /// EUR 150 low-value threshold or not (nil when a currency has no rate).
    public static func valuation(_ d: CustomsDeclaration, _ ref: ReferenceSnapshot) -> DeclarationValuation {
        var unknown: [String] = []
        var fxUsed: [FXUsed] = []
        var total: Amount? = .zero
        let date = d.lodgedAt.dateString
        let lines = d.items.map { item -> DeclarationValuation.Line in
            let hs = hsInfo(item.hsCode, ref, unknown: &unknown)
            guard let (unit, fx) = toEUR(item.intrinsicValue, on: date, ref) else {
                unknown.append("currency:\(item.intrinsicValue.currency)")
                total = nil
                return DeclarationValuation.Line(hs: hs, lineValueEUR: nil, unitValueEUR: nil, valuePerKgEUR: nil)
            }
            if !fxUsed.contains(fx) { fxUsed.append(fx) }
            let line = unit * item.quantity
            total = total.map { $0 + line }
            return DeclarationValuation.Line(hs: hs, lineValueEUR: line, unitValueEUR: unit, valuePerKgEUR: perKg(line, grams: item.netMassGrams))
        }
        return DeclarationValuation(items: lines, totalIntrinsicValueEUR: total,
                                    overLowValueThreshold: total.map { $0 > DeclarationValuation.lowValueThresholdEUR },
                                    fx: fxUsed, unknown: unknown)
    }

    public static func summary(_ d: CustomsDeclaration, _ v: DeclarationValuation) -> DeclarationSummary {
        DeclarationSummary(declarationID: d.declarationID, lodgedAt: d.lodgedAt, regime: d.regime,
                           totalIntrinsicValueEUR: v.totalIntrinsicValueEUR, overLowValueThreshold: v.overLowValueThreshold)
    }
}
