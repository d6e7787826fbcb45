/// Minimal RFC 4180 reader: header row, comma separator, double-quoted fields with "" escapes.
enum CSV {
    struct Failure: Error, CustomStringConvertible {
        let file: String
        let line: Int
        let message: String
        var description: String { "\(file):\(line): \(message)" }
    }

    /// Rows as dictionaries keyed by the header's column names.
    static func parse(_ text: String, file: String, columns expected: [String]) throws -> [[String: String]] {
        var rows: [[String]] = []
        var field = ""
        var row: [String] = []
        var inQuotes = false
        var chars = text.makeIterator()
        var pending: Character?
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if inQuotes {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r\n" {
                row.append(field); field = ""
                rows.append(row); row = []
            } else if c != "\r" {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        guard let header = rows.first else { throw Failure(file: file, line: 1, message: "empty file") }
        guard header == expected else {
            throw Failure(file: file, line: 1, message: "expected columns \(expected.joined(separator: ",")), got \(header.joined(separator: ","))")
        }
        var result: [[String: String]] = []
        for (i, r) in rows.dropFirst().enumerated() where !(r.count == 1 && r[0].isEmpty) {
            guard r.count == header.count else {
                throw Failure(file: file, line: i + 2, message: "expected \(header.count) fields, got \(r.count)")
            }
            result.append(Dictionary(uniqueKeysWithValues: zip(header, r)))
        }
        return result
    }
}
