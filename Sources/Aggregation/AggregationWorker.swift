import Catalogue
import Codec
import FleetConfig
import WorkerRuntime

public enum AggregationWorker {
    public static let name = Catalogue.Worker.aggregation

    public static let definition = WorkerDefinition(
        name: name, defaultHTTPPort: 8084,
        settings: [
            Setting("aggregation.flows.window", .duration(.seconds(60)...(.seconds(7 * 86_400))), default: "1h", "Trade-flow window size (tumbling, by first ARRIVED time)."),
            Setting("aggregation.flows.grace", .duration(.seconds(0)...(.seconds(86_400))), default: "10m", "How long after a trade-flow or customs-risk window ends records may still join it; then it is final and emitted."),
            Setting("aggregation.risk.window", .duration(.seconds(60)...(.seconds(7 * 86_400))), default: "1h", "Customs-risk window size (tumbling, by lodged_at)."),
            Setting("aggregation.access.window", .duration(.seconds(10)...(.seconds(86_400))), default: "5m", "Access-activity window size per principal (tumbling)."),
            Setting("aggregation.access.grace", .duration(.seconds(0)...(.seconds(3_600))), default: "1m", "Grace of access-activity windows; alerts come when a window is final, so detection delay is at most window + grace."),
            Setting("aggregation.dedup_retention", .duration(.seconds(3_600)...(.seconds(90 * 86_400))), default: "7d", "How long (event time) a counted parcel or scored declaration is remembered so that it counts once."),
            Setting("aggregation.alerts.rules", .list, default: AlertRule.allCases.map(\.rawValue).joined(separator: ","), "Alert rules that are on."),
            Setting("aggregation.alerts.warmup", .duration(.seconds(0)...(.seconds(30 * 86_400))), default: "24h", "Event time of a principal before its own baseline counts (until then only its peer group's does, and rules without one hold back)."),
            Setting("aggregation.alerts.min_windows", .int(1...100_000), default: "12", "Active windows of a principal before its own baseline counts."),
            Setting("aggregation.alerts.min_peer_windows", .int(1...1_000_000), default: "30", "Windows of a peer group (org and role) before its baseline counts; until then its role's across all orgs stands in, once that has as many."),
            Setting("aggregation.alerts.factor", .string, default: "5", "\"Far above\" for counts (PII_HARVEST, FLOW_REPORT_HARVEST, DENIED_BURST): at least this many times the baseline mean…"),
            Setting("aggregation.alerts.sigmas", .string, default: "6", "…and this many standard deviations above it."),
            Setting("aggregation.alerts.export_sigmas", .string, default: "8", "BULK_EXPORT: the sensitive exports of the trailing span this many log-scale standard deviations above the usual size of one export (the principal's own, its peer group's while it warms up)…"),
            Setting("aggregation.alerts.min_log_spread", .string, default: "0.5", "…counting the spread of export sizes as at least this (ln units; 0.5 is a factor of 1.65)."),
            Setting("aggregation.alerts.min_exports", .int(1...100_000), default: "5", "BULK_EXPORT: windows with sensitive exports before a principal's own export-size baseline counts."),
            Setting("aggregation.alerts.bulk_min_records", .int(1...Int(Int32.max)), default: "2000", "BULK_EXPORT: fewest confidential/restricted records exported in the trailing harvest span."),
            Setting("aggregation.alerts.pii_min_records", .int(1...Int(Int32.max)), default: "15", "PII_HARVEST: fewest distinct personal-data records (consignees, parcels by id) read one by one in the span."),
            Setting("aggregation.alerts.harvest_span", .duration(.seconds(60)...(.seconds(86_400))), default: "15m", "PII_HARVEST, FLOW_REPORT_HARVEST, DENIED_BURST and BULK_EXPORT count over this trailing span (in whole activity windows), so a harvest paced under a per-window threshold, a dump cut into a few exports, or a probe that straddles two windows, still adds up."),
            Setting("aggregation.alerts.flow_min_pulls", .int(1...100_000), default: "5", "FLOW_REPORT_HARVEST: fewest distinct flow reports or manifests (by lane, period, flight) pulled in the span."),
            Setting("aggregation.alerts.denied_min", .int(1...100_000), default: "20", "DENIED_BURST: fewest denied requests in the span."),
            Setting("aggregation.alerts.off_hours_min_events", .int(1...100_000), default: "3", "OFF_HOURS: fewest sensitive events in a session that began outside working hours…"),
            Setting("aggregation.alerts.off_hours_max_share", .string, default: "0.1", "…by a principal with at most this share of its earlier sessions begun off hours."),
            Setting("aggregation.alerts.session_gap", .duration(.seconds(60)...(.seconds(86_400))), default: "2h", "OFF_HOURS: a gap without events that ends a session (overtime continues a session that began in working hours; it is not a new one)."),
            Setting("aggregation.alerts.off_hours_min_sessions", .int(1...100_000), default: "3", "OFF_HOURS: sessions of a principal before its own habit counts (until then its peer group's)."),
            Setting("aggregation.alerts.min_peer_sessions", .int(1...1_000_000), default: "10", "OFF_HOURS: sessions of a peer group before its habit counts (until then its role's across all orgs, once that has as many)."),
            Setting("aggregation.alerts.realert_after", .duration(.seconds(0)...(.seconds(7 * 86_400))), default: "1h", "A rule that keeps firing for one principal raises one alert per this span."),
            Setting("aggregation.alerts.usual_country_windows", .int(1...100_000), default: "3", "THIRD_COUNTRY_ACCESS: windows from a country before it is usual for the principal."),
            Setting("aggregation.alerts.slow_min_records", .int(1...Int(Int32.max)), default: "5000", "SLOW_EXFILTRATION: fewest sensitive records exported in the trailing 24 h…"),
            Setting("aggregation.alerts.slow_factor", .string, default: "3", "…and at least this many times the principal's daily baseline…"),
            Setting("aggregation.alerts.slow_sigmas", .string, default: "6", "…and this many standard deviations of the principal's daily totals above their mean."),
            Setting("aggregation.alerts.slow_min_days", .int(1...365), default: "3", "SLOW_EXFILTRATION: completed days in a principal's daily baseline before the rule judges it."),
            Setting("aggregation.alerts.slow_unusual_min_records", .int(1...Int(Int32.max)), default: "500", "SLOW_EXFILTRATION also fires on this many sensitive records in the trailing 24 h of resource kinds unusual for the principal (exported on fewer than 2 earlier days) and for its role…"),
            Setting("aggregation.alerts.usual_kind_share", .string, default: "0.02", "…a kind under this share of the role's export windows across orgs (once it has 200 of them)."),
            Setting("aggregation.topics.parcels_in", .name, default: Catalogue.parcelsRedacted, "PII-free parcel events."),
            Setting("aggregation.topics.risk_in", .name, default: Catalogue.customsRisk, "Risk scores."),
            Setting("aggregation.topics.access_in", .name, default: Catalogue.accessTagged, "Tagged access events."),
            Setting("aggregation.topics.flows_out", .name, default: Catalogue.tradeFlows, "Trade-flow aggregates."),
            Setting("aggregation.topics.risk_out", .name, default: Catalogue.customsRiskAggregates, "Customs-risk aggregates."),
            Setting("aggregation.topics.activity_out", .name, default: Catalogue.accessActivity, "Access-activity aggregates."),
            Setting("aggregation.topics.alerts_out", .name, default: Catalogue.accessAlerts, "Access alerts."),
        ]
    ) { config, _ in
        func number(_ key: String) throws -> Double {
            guard let v = Double(config.string(key)), v.isFinite, v > 0 else {
                throw ConfigError(key: key, source: config.values[key]?.source, message: "expected a positive number, got \"\(config.string(key))\"")
            }
            return v
        }
        func share(_ key: String) throws -> Double {
            let v = try number(key)
            guard v <= 1 else {
                throw ConfigError(key: key, source: config.values[key]?.source, message: "expected a share between 0 and 1, got \(config.string(key))")
            }
            return v
        }
        var alerts = AlertSettings()
        var enabled = Set<AlertRule>()
        for name in config.list("aggregation.alerts.rules") {
            guard let rule = AlertRule(rawValue: name) else {
                throw ConfigError(key: "aggregation.alerts.rules", source: config.values["aggregation.alerts.rules"]?.source,
                                  message: "unknown rule \(name) (rules: \(AlertRule.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            enabled.insert(rule)
        }
        alerts.enabled = enabled
        alerts.warmupMs = config.duration("aggregation.alerts.warmup").wholeMilliseconds
        alerts.minWindows = Int64(config.int("aggregation.alerts.min_windows"))
        alerts.minPeerWindows = Int64(config.int("aggregation.alerts.min_peer_windows"))
        alerts.factor = try number("aggregation.alerts.factor")
        alerts.sigmas = try number("aggregation.alerts.sigmas")
        alerts.exportSigmas = try number("aggregation.alerts.export_sigmas")
        alerts.minLogSpread = try number("aggregation.alerts.min_log_spread")
        alerts.minExports = Int64(config.int("aggregation.alerts.min_exports"))
        alerts.bulkMinRecords = Int64(config.int("aggregation.alerts.bulk_min_records"))
        alerts.piiMinRecords = Int64(config.int("aggregation.alerts.pii_min_records"))
        alerts.harvestSpanMs = config.duration("aggregation.alerts.harvest_span").wholeMilliseconds
        alerts.flowMinPulls = Int64(config.int("aggregation.alerts.flow_min_pulls"))
        alerts.deniedMin = Int64(config.int("aggregation.alerts.denied_min"))
        alerts.offHoursMinEvents = Int64(config.int("aggregation.alerts.off_hours_min_events"))
        alerts.offHoursMaxShare = try share("aggregation.alerts.off_hours_max_share")
        alerts.sessionGapMs = config.duration("aggregation.alerts.session_gap").wholeMilliseconds
        alerts.realertMs = config.duration("aggregation.alerts.realert_after").wholeMilliseconds
        alerts.offHoursMinSessions = Int64(config.int("aggregation.alerts.off_hours_min_sessions"))
        alerts.minPeerSessions = Int64(config.int("aggregation.alerts.min_peer_sessions"))
        alerts.usualCountryWindows = Int64(config.int("aggregation.alerts.usual_country_windows"))
        alerts.slowMinRecords = Int64(config.int("aggregation.alerts.slow_min_records"))
        alerts.slowFactor = try number("aggregation.alerts.slow_factor")
        alerts.slowSigmas = try number("aggregation.alerts.slow_sigmas")
        alerts.slowMinDays = Int64(config.int("aggregation.alerts.slow_min_days"))
        alerts.slowUnusualMinRecords = Int64(config.int("aggregation.alerts.slow_unusual_min_records"))
        alerts.usualKindShare = try share("aggregation.alerts.usual_kind_share")
        let grace = config.duration("aggregation.flows.grace")
        let flowSpec = WindowSpec(size: config.duration("aggregation.flows.window"), grace: grace)
        let riskSpec = WindowSpec(size: config.duration("aggregation.risk.window"), grace: grace)
        let accessSpec = WindowSpec(size: config.duration("aggregation.access.window"), grace: config.duration("aggregation.access.grace"))
        let retention = config.duration("aggregation.dedup_retention")
        let t = (parcels: config.string("aggregation.topics.parcels_in"), risk: config.string("aggregation.topics.risk_in"),
                 access: config.string("aggregation.topics.access_in"), flows: config.string("aggregation.topics.flows_out"),
                 riskOut: config.string("aggregation.topics.risk_out"), activity: config.string("aggregation.topics.activity_out"),
                 alerts: config.string("aggregation.topics.alerts_out"))
        let alertSettings = alerts
        let flowFacts = Catalogue.aggregationFlowFacts, riskFacts = Catalogue.aggregationRiskFacts
        let peerObservations = Catalogue.aggregationPeerObservations
        return [
            TaskDefinition(name: "parcels", inputs: [t.parcels], outputs: [flowFacts], stores: [StoreDefinition(ParcelFlowRouter.store)]) {
                ParcelFlowRouter(output: flowFacts, retention: retention)
            },
            TaskDefinition(name: "flows", inputs: [flowFacts], outputs: [t.flows], stores: [StoreDefinition("flows")]) {
                TradeFlowAggregator(spec: flowSpec, output: t.flows)
            },
            TaskDefinition(name: "risk-facts", inputs: [t.risk], outputs: [riskFacts], stores: [StoreDefinition(RiskFactRouter.store)]) {
                RiskFactRouter(output: riskFacts, retention: retention)
            },
            TaskDefinition(name: "risk", inputs: [riskFacts], outputs: [t.riskOut], stores: [StoreDefinition("risk")]) {
                CustomsRiskAggregator(spec: riskSpec, output: t.riskOut)
            },
            // range: partition n of access.tagged and of the peer observations land on the same
            // instance, whose `peers` store of partition n both of them update.
            TaskDefinition(name: "access", inputs: [t.access, peerObservations], outputs: [t.activity, t.alerts, peerObservations],
                           stores: [StoreDefinition("activity"), StoreDefinition("profiles"), StoreDefinition("peers")], assignor: "range") {
                AccessActivityTracker(spec: accessSpec, settings: alertSettings, activityOut: t.activity, alertsOut: t.alerts,
                                      peersTopic: peerObservations)
            },
        ]
    }
}
