import Foundation

/// Calendar fields of an instant in UTC, computed arithmetically so that formatting a signing
/// date never depends on the process locale, time zone or a shared DateFormatter.
struct UTCTimestamp {
    let year: Int
    let month: Int
    let day: Int
    let hour: Int
    let minute: Int
    let second: Int
    /// 0 = Sunday.
    let weekday: Int

    init(_ date: Date) {
        let seconds = Int64((date.timeIntervalSince1970).rounded(.down))
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        hour = secondOfDay / 3600
        minute = secondOfDay % 3600 / 60
        second = secondOfDay % 60
        weekday = ((days % 7) + 7 + 4) % 7  // 1970-01-01 was a Thursday.
        // Civil-from-days (proleptic Gregorian), after Howard Hinnant's published algorithm.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// "20130524T000000Z": SigV4's x-amz-date.
    var amzDate: String {
        pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(hour, 2) + pad(minute, 2) + pad(second, 2) + "Z"
    }

    /// "20130524": SigV4's credential-scope date.
    var amzDay: String { pad(year, 4) + pad(month, 2) + pad(day, 2) }

    /// "2013-05-24T00:00:00Z": Azure SAS st/se, as the SDK formats them.
    var iso8601: String {
        pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(hour, 2) + ":" + pad(minute, 2) + ":"
            + pad(second, 2) + "Z"
    }

    /// "Fri, 24 May 2013 00:00:00 GMT": RFC 1123, for x-ms-date and Date.
    var rfc1123: String {
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return days[weekday] + ", " + pad(day, 2) + " " + months[month - 1] + " " + pad(year, 4) + " " + pad(hour, 2)
            + ":" + pad(minute, 2) + ":" + pad(second, 2) + " GMT"
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// HTTP date formatting for request headers (x-ms-date, Date).
///
/// Both signers need the same instant in the header and in the signature; formatting it here,
/// locale-free, keeps the two identical.
public enum HTTPDate {
    /// RFC 1123 form in GMT, e.g. "Fri, 24 May 2013 00:00:00 GMT".
    public static func rfc1123(_ date: Date) -> String {
        UTCTimestamp(date).rfc1123
    }

    /// Parses an RFC 1123 date ("Fri, 24 May 2013 00:00:00 GMT", as Last-Modified carries
    /// it); nil for anything else. Arithmetic, so no locale or DateFormatter is involved.
    public static func parse(_ text: String) -> Date? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int(fields[1]),
            let month = months.firstIndex(of: String(fields[2])).map({ $0 + 1 }), let year = Int(fields[3])
        else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), (0...23).contains(clock[0]), (0...59).contains(clock[1]),
            (0...60).contains(clock[2])
        else { return nil }
        // Days-from-civil (proleptic Gregorian), after Howard Hinnant's published algorithm.
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]))
    }
}
