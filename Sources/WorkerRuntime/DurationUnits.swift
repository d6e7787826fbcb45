/// The units the runtime hands to metrics, librdkafka and event-time arithmetic, in one place.
extension Duration {
    /// Whole milliseconds (event time and windows are in milliseconds).
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    /// Whole nanoseconds (histograms record nanoseconds).
    public var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    /// Seconds as a floating-point number (Foundation's time intervals).
    public var secondsValue: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
