import Foundation

/// A message on its way to a WeCom robot or a webhook.
public struct OutboundMessage: Sendable, Equatable {
    public var title: String
    public var body: String
    public var link: String

    public init(title: String, body: String, link: String) {
        self.title = title
        self.body = body
        self.link = link
    }
}

/// WeCom group robot markdown: at most 4096 bytes of UTF-8 per message.
/// A long body is cut at a character boundary and ends with a link to the
/// entity; several queued messages merge into one digest.
public enum WeComMarkdown {
    public static let limitBytes = 4096

    public static func content(_ message: OutboundMessage, limit: Int = limitBytes) -> String {
        let head = "**\(message.title)**\n\n"
        let tail = message.link.isEmpty ? "" : "\n\n[查看详情](\(message.link))"
        let whole = head + message.body + tail
        if whole.utf8.count <= limit { return whole }
        let cutTail = message.link.isEmpty ? "\n\n…（内容过长，已截断）" : "\n\n…（内容过长，已截断）[查看全文](\(message.link))"
        let room = limit - head.utf8.count - cutTail.utf8.count
        if room <= 0 { return prefix(head + cutTail, bytes: limit) }
        return head + prefix(message.body, bytes: room) + cutTail
    }

    /// A digest of queued messages in order: as many as fit in one post (at least
    /// one); the caller keeps the rest for the next post. Returns the content and
    /// how many messages it carries.
    public static func digest(_ messages: [OutboundMessage], limit: Int = limitBytes) -> (content: String, count: Int) {
        precondition(!messages.isEmpty)
        if messages.count == 1 { return (content(messages[0], limit: limit), 1) }
        var lines: [String] = []
        var used = 0
        let headerRoom = 64   // "**汇总：N 条通知**（发送频率受限，已合并）\n\n" with up to 4 digits
        for message in messages {
            let excerpt = firstLine(of: message.body, maxCharacters: 80)
            var line = "> **\(message.title)**"
            if !excerpt.isEmpty { line += " \(excerpt)" }
            if !message.link.isEmpty { line += " [详情](\(message.link))" }
            let cost = line.utf8.count + 1
            if !lines.isEmpty, used + cost + headerRoom > limit { break }
            if lines.isEmpty, cost + headerRoom > limit { line = prefix(line, bytes: limit - headerRoom - 1) }
            lines.append(line)
            used += line.utf8.count + 1
        }
        let header = "**汇总：\(lines.count) 条通知**（发送频率受限，已合并）\n\n"
        return (header + lines.joined(separator: "\n"), lines.count)
    }

    static func firstLine(of text: String, maxCharacters: Int) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let trimmed = line.replacingOccurrences(of: "*", with: "").trimmingCharacters(in: .whitespaces)
        return trimmed.count <= maxCharacters ? trimmed : String(trimmed.prefix(maxCharacters)) + "…"
    }

    /// The longest prefix of whole characters within `bytes` bytes of UTF-8.
    static func prefix(_ text: String, bytes: Int) -> String {
        var result = ""
        var used = 0
        for character in text {
            let size = String(character).utf8.count
            if used + size > bytes { break }
            result.append(character)
            used += size
        }
        return result
    }
}

/// What a receiver's answer means for a delivery.
public enum DeliveryVerdict: Sendable, Equatable {
    case delivered
    /// Try again later (timeouts, 5xx, rate limits); `rateLimited` also pauses the robot.
    case retry(String, rateLimited: Bool = false)
    /// Trying again will not help (a revoked robot key, a 4xx): dead-letter now.
    case fail(String)

    /// A WeCom robot answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; any
    /// other errcode is an error. 45009 is "api freq out of limit"; -1 is "system busy".
    public static func weCom(status: Int, body: [UInt8]) -> DeliveryVerdict {
        if status != 200 { return http(status: status) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let errcode = (object["errcode"] as? NSNumber)?.intValue
        else { return .retry("HTTP 200 without a JSON errcode") }
        let message = (object["errmsg"] as? String).map { "errcode \(errcode): \($0)" } ?? "errcode \(errcode)"
        switch errcode {
        case 0: return .delivered
        case 45009, 45033: return .retry(message, rateLimited: true)
        case -1: return .retry(message)
        default: return .fail(message)
        }
    }

    /// A generic webhook: any 2xx is accepted.
    public static func http(status: Int) -> DeliveryVerdict {
        switch status {
        case 200..<300: .delivered
        case 429: .retry("HTTP 429", rateLimited: true)
        case 408, 500...: .retry("HTTP \(status)")
        default: .fail("HTTP \(status)")
        }
    }
}
