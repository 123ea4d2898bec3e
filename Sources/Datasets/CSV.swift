// Comma-separated text as Python's csv.reader reads it by default: fields split on ',', a field
// may be quoted with '"' (a doubled '"' inside is one quote, commas and newlines inside are kept),
// rows end at '\n' or "\r\n". Blank lines give no row.
import Foundation

/// One CSV row with the 1-based line number it starts on.
struct CSVRow {
    var line: Int
    var fields: [String]
}

enum CSV {
    /// Parses CSV text into rows.
    static func parse(_ text: String) -> [CSVRow] {
        var rows: [CSVRow] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var quotedField = false
        var line = 1
        var rowLine = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        var i = 0
        func endRow() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !quotedField) { rows.append(CSVRow(line: rowLine, fields: fields)) }
            fields = []
            field = ""
            quotedField = false
        }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 }
                    else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
                quotedField = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" || c == "\r" {
                if c == "\r", i + 1 < chars.count, chars[i + 1] == "\n" { i += 1 }
                endRow()
                line += 1
                rowLine = line
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if !field.isEmpty || !fields.isEmpty || quotedField { endRow() }
        return rows
    }

    /// Reads and parses a CSV file.
    static func read(_ path: String) throws -> [CSVRow] {
        let data = try readFile(path)
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else {
            throw DatasetError.unreadable(file: path, reason: "not text")
        }
        return parse(text)
    }
}
